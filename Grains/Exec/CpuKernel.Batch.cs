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
    private delegate void BatchFn(CpuKernel k, in HelperContext ctx, ExecStep step, int count, ref ReturnTally tally);

    /// <summary>Batch loops of the hot helper steps, by StepCall; other steps repeat Invoke.</summary>
    private static readonly BatchFn?[] Batches = CreateBatches();

    private static BatchFn?[] CreateBatches()
    {
        var t = new BatchFn?[Enum.GetValues<StepCall>().Length];
        t[(int)StepCall.PerfEventOutput] = static (k, in ctx, step, count, ref tally) =>
        {
            var map = k._maps[step.Map!];
            var data = step.Data.AsSpan();
            for (int i = 0; i < count; i++) tally.Count(k._model.PerfEventOutput(in ctx, map, step.Flags, data));
        };
        t[(int)StepCall.PerfEventRead] = static (k, in ctx, step, count, ref tally) =>
        {
            var map = k._maps[step.Map!];
            for (int i = 0; i < count; i++) tally.Count(unchecked((long)k._model.PerfEventRead(in ctx, map, step.Flags)));
        };
        t[(int)StepCall.PerfEventReadValue] = static (k, in ctx, step, count, ref tally) =>
        {
            var map = k._maps[step.Map!];
            Span<byte> buf = stackalloc byte[(int)Math.Min(step.Size, 4096)];
            for (int i = 0; i < count; i++) tally.Count(k._model.PerfEventReadValue(in ctx, map, step.Flags, buf));
        };
        t[(int)StepCall.TraceVprintk] = static (k, in ctx, step, count, ref tally) =>
        {
            var (data, isNull) = ArgMemory.Varargs(step, k._memory, k.WorldPrintk.Kallsyms);
            var fmt = step.Fmt.AsSpan(0, (int)step.FmtSize);
            for (int i = 0; i < count; i++) tally.Count(k._model.TraceVprintk(in ctx, k.WorldPrintk, fmt, data, isNull));
        };
        return t;
    }

    public BatchResult InvokeBatch(ExecStep step, int count)
    {
        var ctx = ContextOf(step);
        var tally = new ReturnTally();
        if (Batches[(int)step.Call] is { } batch) batch(this, in ctx, step, count, ref tally);
        else
            for (int i = 0; i < count; i++) tally.Count(Invoke(step).Ret ?? 0);
        return new BatchResult(count, tally.ToDictionary());
    }

    /// <summary>Returns are few distinct values: counted in a tiny open-coded table (at most 8).</summary>
    private struct ReturnTally
    {
        private Rets _rets;
        private Rets _counts;
        private int _distinct;

        [System.Runtime.CompilerServices.InlineArray(8)]
        private struct Rets
        {
            private long _e0;
        }

        public void Count(long ret)
        {
            for (int i = 0; i < _distinct; i++)
            {
                if (_rets[i] != ret) continue;
                _counts[i]++;
                return;
            }
            if (_distinct == 8) throw new InvalidOperationException("more than 8 distinct returns in one batch");
            _rets[_distinct] = ret;
            _counts[_distinct++] = 1;
        }

        public readonly ImmutableDictionary<long, long> ToDictionary()
        {
            var builder = ImmutableDictionary.CreateBuilder<long, long>();
            for (int i = 0; i < _distinct; i++) builder[_rets[i]] = _counts[i];
            return builder.ToImmutable();
        }
    }
}
