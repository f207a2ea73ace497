using System.Collections.Immutable;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Printk;

namespace BpfTraceSim.Grains.Exec;

/// <summary>The printf-like helper steps of a CPU: on its model's bprintf buffers and part of the trace buffer.</summary>
public sealed partial class CpuKernel
{
    private PrintkWorld? _printkWorld;
    private long _traceSequence;

    /// <summary>This CPU's view of the machine: memory for the steps' arguments, kallsyms, the %p key.</summary>
    private PrintkWorld WorldPrintk => _printkWorld ??= new PrintkWorld(_memory, WorldKallsyms(), _world.Seed, 1);

    private Kallsyms WorldKallsyms()
    {
        var kallsyms = new Kallsyms();
        foreach (var (name, size) in _world.Kallsyms) kallsyms.AddOrResize(name, size);
        return kallsyms;
    }

    private static uint Clamp(ulong v) => (uint)Math.Min(v, uint.MaxValue);

    private StepResult TracePrintk(in HelperContext ctx, ExecStep step)
    {
        string? refused = PrintkHelpers.VerifierCheck(PrintfHelper.TracePrintk, step.Fmt, Clamp(step.FmtSize), false, 0);
        if (refused is not null) return new StepResult { VerifierError = refused };
        Span<ulong> a = stackalloc ulong[3];
        for (int i = 0; i < step.Args.Length; i++) a[i] = ArgMemory.Place(step.Args[i], _memory, WorldPrintk.Kallsyms);
        long ret = _model.TracePrintk(in ctx, WorldPrintk, step.Fmt.AsSpan(0, (int)step.FmtSize), a[0], a[1], a[2]);
        return Traced(ret);
    }

    private StepResult TraceVprintk(in HelperContext ctx, ExecStep step)
    {
        var (data, isNull) = ArgMemory.Varargs(step, _memory, WorldPrintk.Kallsyms);
        string? refused = PrintkHelpers.VerifierCheck(PrintfHelper.TraceVprintk, step.Fmt, Clamp(step.FmtSize), step.ArgsPtrNull, Clamp((ulong)data.Length));
        if (refused is not null) return new StepResult { VerifierError = refused };
        long ret = _model.TraceVprintk(in ctx, WorldPrintk, step.Fmt.AsSpan(0, (int)step.FmtSize), data, isNull);
        return Traced(ret);
    }

    /// <summary>A printk step's result: its return and, when it traced, the message as traced.</summary>
    private StepResult Traced(long ret) =>
        ret < 0 ? StepResult.Of(ret) : new StepResult { Ret = ret, Text = _model.Printk.Trace.LastMessage.ToArray() };

    private StepResult Snprintf(in HelperContext ctx, ExecStep step)
    {
        var (data, isNull) = ArgMemory.Varargs(step, _memory, WorldPrintk.Kallsyms);
        // bpf_snprintf's format is validated when the program loads: a refusal never runs.
        string? refused = PrintkHelpers.VerifierCheck(PrintfHelper.Snprintf, step.Fmt, Clamp(step.FmtSize), step.ArgsPtrNull,
            Clamp(Math.Min((ulong)data.Length, (ulong)PrintkHelpers.MaxDataLen)));
        if (refused is not null) return new StepResult { VerifierError = refused };
        var str = new byte[step.Size];
        long ret = _model.Snprintf(in ctx, WorldPrintk, str, step.Fmt, data, isNull);
        if (ret < 0) return StepResult.Of(ret);
        int n = str.AsSpan().IndexOf((byte)0);
        return new StepResult { Ret = ret, Text = n < 0 ? [] : str[..n] };
    }

    /// <summary>The trace events written on this CPU since the last drain, as trace_pipe text per event.</summary>
    public ImmutableArray<TraceEntry> DrainTrace()
    {
        var entries = ImmutableArray.CreateBuilder<TraceEntry>();
        if (!_model.HasPrintk) return [];
        var ring = _model.Printk.Trace;
        var text = new List<byte>();
        while (ring.TryPeek(out ulong ts))
        {
            text.Clear();
            ring.ConsumeInto(text);
            entries.Add(new TraceEntry(ts, Cpu, _traceSequence++, [.. text]));
        }
        return entries.ToImmutable();
    }
}
