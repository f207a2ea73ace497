using System.Collections.Immutable;
using System.Globalization;
using BpfTraceSim.Kernel;

namespace BpfTraceSim.Contracts.Scenarios;

// A perf reader's thread as it really runs: cpu_load, pauses, service_per_kib, poll
// (docs/scenarios.md, consumers). Absent fields leave ConsumerSpec.Model null, so the digest and
// the reports of scenarios without them do not change.
public static partial class ScenarioParser
{
    private static readonly string[] ReaderModelKeys = ["cpu_load", "pauses", "service_per_kib", "poll"];

    private const long MaxRandomPauses = SimLimits.MaxReaderPauses;

    private sealed partial class Reader
    {
        private ReaderModel? ReaderModelFields(Fields f)
        {
            if (!ReaderModelKeys.Any(k => f[k] is not null)) return null;
            var model = new ReaderModel();
            if (f["cpu_load"] is { } cl) model = model with { CpuLoad = CpuLoad(cl, f.P("cpu_load")) };
            if (f["pauses"] is { } pn)
            {
                if (pn is YSeq) model = model with { Pauses = PauseList(pn, f.P("pauses")) };
                else model = model with { RandomPauses = RandomPauseFields(pn, f.P("pauses")) };
            }
            if (f["service_per_kib"] is { } sk)
            {
                long ns = Duration(sk, f.P("service_per_kib"));
                if (ns > 1_000_000_000)
                    throw Fail(sk, f.P("service_per_kib"), $"{ScenarioUnits.FormatDuration(ns)} per KiB is more than 1s");
                model = model with { ServicePerKibNs = ns };
            }
            if (f["poll"] is { } po) model = model with { SleepNs = Poll(po, f.P("poll")) };
            // Written-out defaults (poll: epoll, service_per_kib: 0) mean the model without them: same digest.
            bool isDefault = model.CpuLoad.IsEmpty && model.Pauses.IsEmpty && model.RandomPauses is null && model.ServicePerKibNs == 0 && model.SleepNs is null;
            return isDefault ? null : model;
        }

        private ImmutableArray<LoadStep> CpuLoad(YNode node, string path)
        {
            var seq = Seq(node, path, "a list of { at: TIME, util: 0..1 or N% }");
            if (seq.Items.Count == 0)
                throw Fail(node, path, "needs at least one step");
            var steps = ImmutableArray.CreateBuilder<LoadStep>();
            for (int i = 0; i < seq.Items.Count; i++)
            {
                string p = $"{path}[{i}]";
                var f = new Fields(this, seq.Items[i], p, "{ at: TIME, util: 0..1 or N% }", "at", "util");
                long at = At(f.Req("at"), f.P("at"));
                if (steps.Count > 0 && at <= steps[^1].AtNs)
                    throw Fail(f["at"]!, f.P("at"), $"{ScenarioUnits.FormatDuration(at)} is not after the previous step ({ScenarioUnits.FormatDuration(steps[^1].AtNs)})");
                steps.Add(new LoadStep { AtNs = at, Util = Util(f.Req("util"), f.P("util")) });
            }
            return steps.ToImmutable();
        }

        /// <summary>A share of the CPU: a number from 0 to 1, or a percentage (85%).</summary>
        private double Util(YNode node, string path)
        {
            string text = Scalar(node, path, "a utilisation (0..1 or N%)").Trim();
            bool percent = text.EndsWith('%');
            string num = percent ? text[..^1].Trim() : text;
            if (!double.TryParse(num, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
                throw Fail(node, path, $"expected a utilisation from 0 to 1 or a percentage (e.g. 0.85 or 85%), found '{text}'");
            if (percent) v /= 100;
            if (v > 1)
                throw Fail(node, path, $"{text} is more than the whole CPU (at most 1, or 100%)");
            return v;
        }

        private ImmutableArray<PauseSpan> PauseList(YNode node, string path)
        {
            var seq = (YSeq)node;
            var list = new List<PauseSpan>();
            for (int i = 0; i < seq.Items.Count; i++)
            {
                string p = $"{path}[{i}]";
                var f = new Fields(this, seq.Items[i], p, "{ at: TIME, for: DURATION }", "at", "for");
                long at = At(f.Req("at"), f.P("at"));
                long d = Duration(f.Req("for"), f.P("for"));
                if (d <= 0)
                    throw Fail(f["for"]!, f.P("for"), "must be more than 0");
                list.Add(new PauseSpan { AtNs = at, ForNs = d });
            }
            return [.. list.OrderBy(x => x.AtNs)];
        }

        private RandomPauses RandomPauseFields(YNode node, string path)
        {
            var f = new Fields(this, node, path, "a list of { at, for } or { every: DISTRIBUTION, for: DISTRIBUTION }", "every", "for");
            var everyNode = f.Req("every");
            var every = Service(everyNode, f.P("every"));
            var length = Service(f.Req("for"), f.P("for"));
            double mean = Mean(every);
            if (mean <= 0)
                throw Fail(everyNode, f.P("every"), "the time between pauses must be more than 0 on average");
            if (_durationNs / mean > MaxRandomPauses)
                throw Fail(everyNode, f.P("every"), $"a pause every {ScenarioUnits.FormatDuration((long)mean)} on average is more than {MaxRandomPauses:N0} pauses in {ScenarioUnits.FormatDuration(_durationNs)}");
            return new RandomPauses { Every = every, For = length };
        }

        private static double Mean(ServiceSpec s) => s switch
        {
            FixedService x => x.Ns,
            ExponentialService x => x.MeanNs,
            UniformService x => (x.MinNs + x.MaxNs) / 2.0,
            _ => 0,
        };

        /// <summary>epoll (perf_buffer__poll, the default) or { sleep: D }: sleep, then drain every ring.</summary>
        private long? Poll(YNode node, string path)
        {
            if (node is YScalar { Value: "epoll" }) return null;
            if (node is not YMap)
                throw Fail(node, path, $"expected epoll or {{ sleep: DURATION }}, found {(node is YScalar sc ? $"'{sc.Value}'" : node.KindName)}");
            var f = new Fields(this, node, path, "epoll or { sleep: DURATION }", "sleep");
            var sn = f.Req("sleep");
            long ns = Duration(sn, f.P("sleep"));
            if (ns <= 0)
                throw Fail(sn, f.P("sleep"), "must be more than 0");
            return ns;
        }
    }
}
