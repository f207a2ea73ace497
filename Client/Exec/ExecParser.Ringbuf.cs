using System.Collections.Immutable;
using System.Globalization;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Ringbuf;

namespace BpfTraceSim.Client.Exec;

/// <summary>The ring buffer part of an exec document: ringbuf maps and the ringbuf steps (docs/exec.md).</summary>
internal sealed partial class ExecParser
{
    /// <summary>The largest ring an exec world holds: its data is kept twice (the kernel's double mapping).</summary>
    private const ulong MaxExecRingbuf = 1UL << 30;

    private readonly Dictionary<string, uint> _objectRingbufs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, uint> _ringbufs = new(StringComparer.Ordinal);
    private readonly HashSet<int> _reserveSteps = new();
    private int _stepIndex;
    private long _ringbufBytes;

    // The objects' ringbuf maps, unless "maps" lists them (and so overrides their max_entries).
    private void AddObjectRingbufs(JNode? maps, ImmutableArray<MapSpec>.Builder list)
    {
        foreach (var (name, max) in _objectRingbufs)
        {
            if (maps?[name] is not null) continue;
            _ringbufs[name] = max;
            list.Add(new MapSpec(name, BpfRingbuf.MapTypeName, (int)max));
        }
    }

    private MapSpec RingbufMap(JNode m, string name, string path)
    {
        var me = m["max_entries"] ?? throw Err(m, path, "a ringbuf needs max_entries: its size in bytes, a power of 2 and a multiple of 4096");
        ulong max = U64(me, path + ".max_entries");
        int err = BpfRingbuf.CheckCreate(max);
        if (err != 0)
            throw Err(me, path + ".max_entries",
                $"BPF_MAP_CREATE refuses a ringbuf of {max.ToString(CultureInfo.InvariantCulture)} bytes with -{Errno.Name(err)} ({err}): " +
                $"max_entries must be a power of 2 and a multiple of the page size ({BpfFlags.PAGE_SIZE})");
        if (max > MaxExecRingbuf)
            throw Err(me, path + ".max_entries", $"{max} bytes is a valid ring, but an exec world holds rings of at most {MaxExecRingbuf >> 20} MiB");
        _ringbufBytes += 2 * (long)max;
        if (_ringbufBytes > _limits.MaxRingBytes)
            throw Err(me, path + ".max_entries",
                $"the world's rings would hold {CostLimits.Bytes(_ringbufBytes)} (each ringbuf's data is held twice), more than the limit of {CostLimits.Bytes(_limits.MaxRingBytes)}; " +
                "raise \"limits\": { \"max_ring_bytes\": N } to run it on purpose");
        _ringbufs[name] = (uint)max;
        return new MapSpec(name, BpfRingbuf.MapTypeName, (int)max);
    }

    private ExecStep RingbufStep(JNode s, string path, ExecStep step)
    {
        switch (step.Call)
        {
            case StepCall.RingbufOutput:
                return OutputData(s, path, step with { Map = RingbufRef(s, path), Flags = Flags(s, path) }, "ringbuf_output");
            case StepCall.RingbufReserve:
                _reserveSteps.Add(_stepIndex);
                return step with
                {
                    Map = RingbufRef(s, path),
                    Size = U64(Need(s, "size", path), path + ".size"),
                    Flags = Flags(s, path),
                    StepIndex = _stepIndex,
                };
            case StepCall.RingbufSubmit or StepCall.RingbufDiscard:
            {
                var n = Need(s, "sample", path);
                step = step with { Flags = Flags(s, path) };
                if (n.IsString && n.Scalar!.StartsWith("steps[", StringComparison.Ordinal))
                {
                    string text = n.Scalar;
                    if (!text.EndsWith(']') || !int.TryParse(text.AsSpan(6, text.Length - 7), NumberStyles.None, CultureInfo.InvariantCulture, out int at)
                        || !_reserveSteps.Contains(at))
                        throw Err(n, path + ".sample", $"\"{text}\" is not an earlier ringbuf_reserve step (give \"steps[N]\" of one, or the address it returned)");
                    return step with { SampleStep = at };
                }
                return step with { Sample = U64(n, path + ".sample") };
            }
            case StepCall.RingbufQuery:
                return step with { Map = RingbufRef(s, path), Flags = Flags(s, path) };
            default: // ConsumeRingbuf
                return step with { Map = RingbufRef(s, path) };
        }
    }

    private string RingbufRef(JNode s, string path)
    {
        var n = Need(s, "map", path);
        string map = Str(n, path + ".map");
        if (!_ringbufs.ContainsKey(map))
            throw Err(n, path + ".map", $"no ringbuf named \"{map}\" in \"maps\" or in the programs' objects{Suggest(map, _ringbufs.Keys)}");
        return map;
    }
}
