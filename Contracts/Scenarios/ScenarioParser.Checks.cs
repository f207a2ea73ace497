using System.Collections.Immutable;

namespace BpfTraceSim.Contracts.Scenarios;

// Configuration checks that are warnings, not errors: settings the kernel accepts but that can only
// lose records (docs/scenarios.md#configuration-checks). Errors (what the kernel refuses) are
// raised where each field is read.
public static partial class ScenarioParser
{
    private sealed partial class Reader
    {
        /// <summary>Where each event's watermark was written (the warning points there).</summary>
        private readonly Dictionary<string, (YNode Node, string Path)> _watermarkNodes = new(StringComparer.Ordinal);

        /// <summary>
        /// A ring whose watermark cannot be reached before the ring is full. perf_output_begin wakes
        /// the reader when more than the watermark has been written since the last wake-up (counted
        /// on the ring, whatever was read); a ring holds at most its data size, so with a watermark
        /// of a whole ring the ring fills, and drops, before the next wake-up unless the reader's poll
        /// timeout drains it first. (wakeup_events has no such case: ring_buffer_init gives every
        /// ring a watermark, half the data size when none is set, so a large wakeup_events still
        /// wakes the reader every half ring.)
        /// </summary>
        private ImmutableArray<ScenarioError> WakeupWarnings(Scenario s)
        {
            var warnings = ImmutableArray.CreateBuilder<ScenarioError>();
            foreach (var c in s.Consumers)
            {
                foreach (string name in c.Events)
                {
                    var e = _events[name];
                    if (e.RingPages is not int pages || pages == 0 || !_watermarkNodes.TryGetValue(name, out var at)) continue;
                    long data = (long)pages * s.Fleet.Min(g => g.EffectivePageSize); // the smallest ring of the fleet
                    string poll = ScenarioUnits.FormatDuration(c.PollTimeoutNs);
                    if (e.Watermark is int wm && wm >= data)
                    {
                        warnings.Add(Warn(at, $"{wm} bytes is at least the ring's {data} bytes of data (the kernel caps it there): " +
                            $"the ring fills before a wake-up comes, unless consumer '{c.Name}' reads it first at its poll timeout ({poll})"));
                    }
                }
            }
            return warnings.ToImmutable();
        }

        private ScenarioError Warn((YNode Node, string Path) at, string message) =>
            new() { File = file, Line = (int)at.Node.Start.Line, Column = (int)at.Node.Start.Column, Field = at.Path, Message = message };
    }
}
