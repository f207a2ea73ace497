using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Kernel;

namespace BpfTraceSim.Grains.Exec;

public sealed partial class CpuKernel
{
    private void InitPrintk() { }

    private StepResult InvokePrintk(in HelperContext ctx, ExecStep step) =>
        throw new InvalidOperationException($"{step.Call} is not served by a CPU grain yet");
}
public sealed partial class CpuKernel
{
    public System.Collections.Immutable.ImmutableArray<BpfTraceSim.Contracts.Grains.TraceEntry> DrainTrace() => [];
}
