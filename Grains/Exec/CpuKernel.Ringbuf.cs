using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Ringbuf;

namespace BpfTraceSim.Grains.Exec;

/// <summary>The ring buffer helper steps on this CPU: they act on the host's ring through this CPU's model.</summary>
public sealed partial class CpuKernel
{
    private readonly HostRingbufs? _rings;

    private BpfRingbuf Ring(string name) =>
        _rings is not null && _rings.TryGet(name, out var rb) ? rb : throw new InvalidOperationException($"no ringbuf {name}");

    private StepResult RingbufOutput(in HelperContext ctx, ExecStep step) =>
        StepResult.Of(_model.RingbufOutput(in ctx, Ring(step.Map!), step.Flags, step.Data));

    private StepResult RingbufReserve(in HelperContext ctx, ExecStep step)
    {
        ulong sample = _model.RingbufReserve(in ctx, Ring(step.Map!), step.Size, step.Flags);
        _rings!.Reserved(step.StepIndex, sample);
        return new StepResult { Ret = unchecked((long)sample), RetU64 = sample };
    }

    // submit/discard are RET_VOID: the BPF_CALL returns 0. A pointer that is not a held reservation
    // (NULL, released, or never reserved) is refused as the verifier refuses such a program.
    private StepResult RingbufCommit(ExecStep step, bool discard)
    {
        ulong sample = step.SampleStep is int at ? _rings?.SampleOf(at) ?? 0 : step.Sample;
        if (sample == 0)
            return new StepResult { VerifierError = $"R1 type=ringbuf_mem_or_null expected=ringbuf_mem: the sample may be NULL (check the reservation before {(discard ? "discard" : "submit")})" };
        if (!_model.RingbufCommit(sample, step.Flags, discard))
            return new StepResult { VerifierError = $"R1 0x{sample:x} is not a ringbuf reservation the program holds (released already, or never reserved)" };
        return StepResult.Of(0);
    }

    private StepResult RingbufQuery(ExecStep step)
    {
        ulong v = CpuModel.RingbufQuery(Ring(step.Map!), step.Flags);
        return new StepResult { Ret = unchecked((long)v) };
    }
}
