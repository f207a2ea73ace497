using static BpfTraceSim.Kernel.Perf.PerfConstants;

namespace BpfTraceSim.Kernel.Perf;

/// <summary>
/// The parts of struct perf_event_attr the simulator models. Watermark is attr.wakeup_watermark
/// with attr.watermark implied by a non-zero value; 0 means wake up by wakeup_events.
/// </summary>
public sealed record PerfEventAttr(
    uint Type = PERF_TYPE_SOFTWARE,
    ulong Config = PERF_COUNT_SW_BPF_OUTPUT,
    ulong SampleType = PERF_SAMPLE_RAW,
    bool Pinned = false,
    bool Inherit = false,
    bool Disabled = false,
    uint WakeupEvents = 0,
    uint Watermark = 0)
{
    /// <summary>PERF_TYPE_SOFTWARE / PERF_COUNT_SW_BPF_OUTPUT: the only kind bpf_perf_event_output accepts.</summary>
    public bool IsBpfOutput => Type == PERF_TYPE_SOFTWARE && Config == PERF_COUNT_SW_BPF_OUTPUT;

    /// <summary>Counts nanoseconds while running: cpu-clock, task-clock, and (with a PMU) cycles-like events at 1 GHz.</summary>
    public bool IsClock => Type switch
    {
        PERF_TYPE_SOFTWARE => Config is PERF_COUNT_SW_CPU_CLOCK or PERF_COUNT_SW_TASK_CLOCK,
        PERF_TYPE_HARDWARE => Config is PERF_COUNT_HW_CPU_CYCLES or PERF_COUNT_HW_INSTRUCTIONS or PERF_COUNT_HW_REF_CPU_CYCLES,
        _ => false,
    };

    /// <summary>A BPF output attr with the given sample_type.</summary>
    public static PerfEventAttr BpfOutput(ulong sampleType = PERF_SAMPLE_RAW, bool disabled = false) =>
        new(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_BPF_OUTPUT, sampleType, Disabled: disabled);

    /// <summary>A software counter attr (cpu-clock, task-clock, ...).</summary>
    public static PerfEventAttr Software(ulong config, bool pinned = false, bool inherit = false, bool disabled = false) =>
        new(PERF_TYPE_SOFTWARE, config, 0, pinned, inherit, disabled);
}
