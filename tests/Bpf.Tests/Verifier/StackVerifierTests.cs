using BpfTraceSim.Bpf.Isa;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Verifier;
using BpfTraceSim.Kernel;
using static BpfTraceSim.Bpf.Isa.Asm;
using static BpfTraceSim.Bpf.Tests.TestObjects;
using O = BpfTraceSim.Bpf.Isa.Op;

namespace BpfTraceSim.Bpf.Tests.Verifier;

/// <summary>
/// The verifier's rules for the stack helpers (docs/verifier.md): check_map_func_compatibility's
/// STACK_TRACE rows in both directions, get_func_proto's program types, and the ARG_PTR_TO_UNINIT_MEM
/// + ARG_CONST_SIZE_OR_ZERO pair of bpf_get_stack, each with the kernel's errno and message.
/// </summary>
public class StackVerifierTests
{
    private static readonly BpfMapSpec[] Maps =
    [
        new("st", BpfMapType.StackTrace, 4, 64, 16, 0), // 0
        new("h", BpfMapType.Hash, 4, 8, 16, 0),         // 1
        new("pe", BpfMapType.PerfEventArray, 4, 4, 4, 0), // 2
    ];

    private static BpfInsn[] LdMap(int reg, int map) => LdImm64(reg, (uint)map, O.PSEUDO_MAP_IDX);

    /// <summary>bpf_get_stackid(ctx, &amp;map, 0); return 0.</summary>
    private static BpfInsn[] Stackid(int map) => P(LdMap(2, map), Mov64(3, 0), Call(HelperProtos.GetStackid), Mov64(0, 0), Exit());

    /// <summary>bpf_get_stack(ctx, fp-16 (uninitialized), size, 0); return 0.</summary>
    private static BpfInsn[] GetStack(int size) =>
        P(Mov64Reg(2, 10), Alu64Imm(O.ADD, 2, -16), Mov64(3, size), Mov64(4, 0), Call(HelperProtos.GetStack), Mov64(0, 0), Exit());

    /// <summary>A 4-byte zero key at fp-4 in r2, the stack map in r1, then helper id.</summary>
    private static BpfInsn[] KeyCall(int id, params object[] more) =>
        P(St(O.W, 10, -4, 0), Mov64Reg(2, 10), Alu64Imm(O.ADD, 2, -4), LdMap(1, 0), P(more), Call(id), Mov64(0, 0), Exit());

    public static TheoryData<string, int, string, string> Refusals() => new()
    {
        { "lookup in a stack map", Errno.EINVAL, "cannot pass map_type 7 into func bpf_map_lookup_elem#1", "lookup" },
        { "update of a stack map", Errno.EINVAL, "cannot pass map_type 7 into func bpf_map_update_elem#2", "update" },
        { "delete in a stack map", Errno.EINVAL, "cannot pass map_type 7 into func bpf_map_delete_elem#3", "delete" },
        { "get_stackid with a hash map", Errno.EINVAL, "cannot pass map_type 1 into func bpf_get_stackid#27", "stackid-hash" },
        { "get_stackid with a perf event array", Errno.EINVAL, "cannot pass map_type 4 into func bpf_get_stackid#27", "stackid-pe" },
        { "get_stackid without the context", Errno.EACCES, "R1 type=scalar expected=ctx", "stackid-noctx" },
        { "get_stackid in a socket filter", Errno.EINVAL, "program of this type cannot use helper bpf_get_stackid#27", "stackid-socket" },
        { "get_stack in a syscall program", Errno.EINVAL, "program of this type cannot use helper bpf_get_stack#67", "stack-syscall" },
        { "get_stack size past its buffer", Errno.EACCES, "invalid indirect access to stack R2 off=-16 size=32", "stack-big" },
    };

    private static (BpfInsn[] Insns, string Section) Program(string which) => which switch
    {
        "lookup" => (KeyCall(HelperProtos.MapLookupElem), "kprobe/f"),
        "update" => (P(Enumerable.Range(1, 8).Select(i => St(O.DW, 10, (short)(-8 - 8 * i), 0)).ToArray(),
            KeyCall(HelperProtos.MapUpdateElem, Mov64Reg(3, 10), Alu64Imm(O.ADD, 3, -72), Mov64(4, 0))), "kprobe/f"),
        "delete" => (KeyCall(HelperProtos.MapDeleteElem), "kprobe/f"),
        "stackid-hash" => (Stackid(1), "kprobe/f"),
        "stackid-pe" => (Stackid(2), "kprobe/f"),
        "stackid-noctx" => (P(Mov64(1, 0), Stackid(0)), "kprobe/f"),
        "stackid-socket" => (Stackid(0), "socket"),
        "stack-syscall" => (GetStack(16), "syscall"),
        "stack-big" => (GetStack(32), "kprobe/f"),
        _ => throw new ArgumentException(which),
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void Stack_rule_is_refused_with_the_kernel_errno_and_message(string name, int errno, string message, string which)
    {
        var (insns, section) = Program(which);
        var e = Assert.Throws<BpfVerifierException>(() => BpfVerifier.Verify(BpfProgram.FromInstructions("t", insns, section), Maps));
        Assert.True(message == e.KernelMessage, $"{name}: {e.KernelMessage}");
        Assert.Equal(errno, e.Errno);
        Assert.EndsWith(message + "\n", e.Log);
    }

    [Theory]
    [InlineData("kprobe/vfs_read")]
    [InlineData("tracepoint/syscalls/sys_enter_read")]
    [InlineData("raw_tp/sys_enter")]
    [InlineData("tp_btf/sched_switch")]
    [InlineData("fentry/vfs_read")]
    [InlineData("perf_event")]
    [InlineData("iter/task")]
    public void Both_helpers_load_in_every_tracing_program_type(string section)
    {
        BpfVerifier.Verify(BpfProgram.FromInstructions("t", Stackid(0), section), Maps);
        BpfVerifier.Verify(BpfProgram.FromInstructions("t", GetStack(16), section), Maps);
    }

    [Fact]
    public void Get_stack_takes_a_zero_size_and_an_uninitialized_buffer() =>
        BpfVerifier.Verify(BpfProgram.FromInstructions("t", GetStack(0), "kprobe/f"), Maps);

    [Fact]
    public void The_clang_stack_object_loads() =>
        Assert.Equal(2, Load("stack.bpf.o").Programs.Count(p => { BpfVerifier.Verify(p, Load("stack.bpf.o").Maps); return true; }));
}
