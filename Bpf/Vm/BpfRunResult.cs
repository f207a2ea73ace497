using BpfTraceSim.Bpf.Loader;

namespace BpfTraceSim.Bpf.Vm;

/// <summary>A run-time fault: the instruction, its source line and what went wrong.</summary>
public sealed record BpfFault(int Insn, BpfSourceLine? Line, string Message)
{
    /// <summary>"file.c:42" or null, as the exec output's fault.line.</summary>
    public string? LineText => Line?.ToString();
    public override string ToString() => $"insn {Insn}{(Line is { } l ? $" ({l})" : "")}: {Message}";
}

/// <summary>A signal bpf_send_signal queued: to the thread group tgid (sent from pid's context), signal number sig.</summary>
public readonly record struct BpfSignal(int Tgid, int Pid, uint Sig);

/// <summary>One helper call of a run, in order: id, name, r0.</summary>
public readonly record struct BpfHelperCall(int Id, string Name, long Ret);

/// <summary>The outcome of one run: r0 (signed) or a fault, the executed instruction count, the helper calls.</summary>
public readonly struct BpfRunResult
{
    private static readonly IReadOnlyList<BpfHelperCall> None = Array.Empty<BpfHelperCall>();
    private readonly IReadOnlyList<BpfHelperCall>? _helpers;

    public BpfRunResult(long ret, ulong instructions, BpfFault? fault, IReadOnlyList<BpfHelperCall>? helpers)
    {
        Ret = ret;
        Instructions = instructions;
        Fault = fault;
        _helpers = helpers;
    }

    public long Ret { get; }
    public ulong Instructions { get; }
    public BpfFault? Fault { get; }
    public bool Ok => Fault is null;
    public IReadOnlyList<BpfHelperCall> Helpers => _helpers ?? None;
}

/// <summary>Thrown inside the VM (by memory slow paths and helpers) and turned into a <see cref="BpfFault"/>.</summary>
public sealed class BpfFaultException : Exception
{
    public BpfFaultException(string message, int insn = -1) : base(message) => Insn = insn;
    public int Insn { get; internal set; }
    public ulong Count { get; internal set; }
}
