namespace BpfTraceSim.Kernel.Perf;

/// <summary>
/// Per-CPU state of the perf helpers: bpf_trace_nest_level, which picks one of the 3
/// bpf_trace_sds sample-data slots (task, softirq, hardirq/NMI). Enter/Exit are public so
/// tests and the program runner can nest calls as interrupts would.
/// </summary>
public sealed class PerfCpu
{
    /// <summary>ARRAY_SIZE(bpf_trace_sds.sds).</summary>
    public const int MaxNestLevel = 3;

    public PerfCpu(int cpu) => Cpu = cpu;

    public int Cpu { get; }

    /// <summary>Current nesting depth of bpf_perf_event_output on this CPU.</summary>
    public int NestLevel { get; private set; }

    /// <summary>this_cpu_inc_return(bpf_trace_nest_level).</summary>
    public int Enter() => ++NestLevel;

    /// <summary>this_cpu_dec(bpf_trace_nest_level).</summary>
    public void Exit()
    {
        if (NestLevel == 0) throw new InvalidOperationException("perf nest level underflow");
        NestLevel--;
    }
}
