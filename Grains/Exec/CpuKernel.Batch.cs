using System.Collections.Immutable;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Perf;
using BpfTraceSim.Kernel.Printk;

namespace BpfTraceSim.Grains.Exec;

/// <summary>
/// Batched invocations: one grain call carries many identical helper calls, each going through
/// the kernel model exactly as a single call would, without per-call allocation.
/// </summary>
public sealed partial class CpuKernel
{
    public BatchResult InvokeBatch(ExecStep step, int count)
    {
        var ctx = ContextOf(step);
        // Returns are few distinct values: count them in a tiny open-coded table.
        Span<long> rets = stackalloc long[8];
        Span<long> counts = stackalloc long[8];
        int distinct = 0;
        switch (step.Call)
        {
            case StepCall.PerfEventOutput:
            {
                var map = _maps[step.Map!];
                var data = step.Data.AsSpan();
                for (int i = 0; i < count; i++)
                    Count(_model.PerfEventOutput(in ctx, map, step.Flags, data), rets, counts, ref distinct);
                break;
            }
            case StepCall.PerfEventRead:
            {
                var map = _maps[step.Map!];
                for (int i = 0; i < count; i++)
                    Count(unchecked((long)_model.PerfEventRead(in ctx, map, step.Flags)), rets, counts, ref distinct);
                break;
            }
            case StepCall.PerfEventReadValue:
            {
                var map = _maps[step.Map!];
                Span<byte> buf = stackalloc byte[(int)Math.Min(step.Size, 4096)];
                for (int i = 0; i < count; i++)
                    Count(_model.PerfEventReadValue(in ctx, map, step.Flags, buf), rets, counts, ref distinct);
                break;
            }
            case StepCall.TraceVprintk:
            {
                var (data, isNull) = ArgMemory.Varargs(step, _memory, WorldPrintk.Kallsyms);
                var fmt = step.Fmt.AsSpan(0, (int)step.FmtSize);
                for (int i = 0; i < count; i++)
                    Count(_model.TraceVprintk(in ctx, WorldPrintk, fmt, data, isNull), rets, counts, ref distinct);
                break;
            }
            default:
                for (int i = 0; i < count; i++)
                    Count(Invoke(step).Ret ?? 0, rets, counts, ref distinct);
                break;
        }
        var builder = ImmutableDictionary.CreateBuilder<long, long>();
        for (int i = 0; i < distinct; i++) builder[rets[i]] = counts[i];
        return new BatchResult(count, builder.ToImmutable());
    }

    private static void Count(long ret, Span<long> rets, Span<long> counts, ref int distinct)
    {
        for (int i = 0; i < distinct; i++)
        {
            if (rets[i] != ret) continue;
            counts[i]++;
            return;
        }
        if (distinct == rets.Length) throw new InvalidOperationException("more than 8 distinct returns in one batch");
        rets[distinct] = ret;
        counts[distinct++] = 1;
    }
}
