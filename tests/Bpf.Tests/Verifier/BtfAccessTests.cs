using BpfTraceSim.Bpf.Isa;
using CsCheck;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Verifier;
using BpfTraceSim.Kernel;
using static BpfTraceSim.Bpf.Isa.Asm;
using static BpfTraceSim.Bpf.Tests.TestObjects;
using O = BpfTraceSim.Bpf.Isa.Op;

namespace BpfTraceSim.Bpf.Tests.Verifier;

/// <summary>
/// Direct loads through bpf_get_current_task_btf's PTR_TO_BTF_ID checked against the simulated
/// vmlinux's struct task_struct (check_ptr_to_btf_access, btf_struct_access): offsets 0..79, pid at
/// 52, tgid at 56, comm[16] at 60, a 4-byte hole at 76, void *stack at 32.
/// </summary>
public class BtfAccessTests
{
    private static BpfInsn[] Task(params object[] body) => P(Call(HelperProtos.GetCurrentTaskBtf), P(body), Mov64(0, 0), Exit());

    private static (int Errno, string Message) Refused(BpfInsn[] insns)
    {
        var e = VerifierTests.Refuse(insns);
        return (e.Errno, e.KernelMessage);
    }

    private static void Accept(BpfInsn[] insns) =>
        BpfVerifier.Verify(BpfProgram.FromInstructions("t", insns, "raw_tp/test"), VerifierTests.Maps);

    [Theory]
    [InlineData(O.W, 52)]  // pid
    [InlineData(O.W, 56)]  // tgid
    [InlineData(O.B, 65)]  // comm[5]
    [InlineData(O.DW, 60)] // comm[0..8]: a char array read as scratch space up to its end
    [InlineData(O.W, 20)]  // thread_info.cpu, inside the nested struct
    [InlineData(O.H, 0)]   // the low half of thread_info.flags
    [InlineData(O.DW, 32)] // the void *stack member, read whole
    public void A_load_inside_a_member_is_accepted(byte size, short off) => Accept(Task(Ldx(size, 1, 0, off)));

    [Theory]
    [InlineData(O.W, 80, Errno.EACCES, "access beyond struct task_struct at off 80 size 4")]
    [InlineData(O.DW, 76, Errno.EACCES, "access beyond struct task_struct at off 76 size 8")]
    [InlineData(O.W, 76, Errno.EINVAL, "struct task_struct doesn't have field at offset 76")]
    [InlineData(O.W, 32, Errno.EACCES, "cannot access ptr member stack with moff 32 in struct task_struct with off 32 size 4")]
    [InlineData(O.DW, 56, Errno.EACCES, "access beyond the end of member tgid (mend:60) in struct task_struct with off 56 size 8")]
    [InlineData(O.DW, 72, Errno.EACCES, "access beyond the end of member comm (mend:76) in struct task_struct with off 72 size 8")]
    [InlineData(O.W, -8, Errno.EACCES, "R0 is ptr_task_struct invalid negative access: off=-8")]
    public void A_load_outside_the_struct_or_across_members_is_refused(byte size, short off, int errno, string message) =>
        Assert.Equal((errno, message), Refused(Task(Ldx(size, 1, 0, off))));

    [Fact]
    public void The_pointers_fixed_offset_counts() =>
        Assert.Equal((Errno.EACCES, "access beyond struct task_struct at off 80 size 4"), Refused(Task(Alu64Imm(O.ADD, 0, 40), Ldx(O.W, 1, 0, 40))));

    [Fact]
    public void A_variable_offset_is_refused() =>
        Assert.Equal((Errno.EACCES, "R6 is ptr_task_struct invalid variable offset: off=0, var_off=(0x0; 0x4)"),
            Refused(Task(Mov64Reg(6, 0), Call(HelperProtos.GetPrandomU32), Alu64Imm(O.AND, 0, 4), Alu64Reg(O.ADD, 6, 0), Ldx(O.W, 1, 6, 0))));

    [Fact]
    public void A_store_is_refused() =>
        Assert.Equal((Errno.EACCES, "only read is supported"), Refused(Task(St(O.W, 0, 52, 1))));

    // task_struct's leaf members as [start, end): a load is accepted exactly when it lies inside one
    // int-like leaf, or is the whole void *stack.
    private static readonly (int Lo, int Hi)[] Leaves =
        [(0, 8), (8, 16), (16, 20), (20, 24), (24, 28), (28, 32), (40, 44), (44, 48), (48, 52), (52, 56), (56, 60), (60, 76)];

    [Fact]
    public void A_load_is_accepted_exactly_inside_one_member() =>
        Gen.Select(Gen.Int[-16, 96], Gen.Int[0, 3]).Sample((off, log2) =>
        {
            int size = 1 << log2;
            byte op = log2 switch { 0 => O.B, 1 => O.H, 2 => O.W, _ => O.DW };
            bool expected = (off == 32 && size == 8) || Array.Exists(Leaves, l => l.Lo <= off && off + size <= l.Hi);
            var prog = BpfProgram.FromInstructions("t", Task(Ldx(op, 1, 0, (short)off)), "raw_tp/test");
            bool accepted = true;
            try { BpfVerifier.Verify(prog, VerifierTests.Maps); }
            catch (BpfLoadException) { accepted = false; }
            Assert.Equal(expected, accepted);
        });

    [Fact]
    public void A_loaded_untyped_pointer_is_read_as_before() =>
        Accept(Task(Ldx(O.DW, 1, 0, 32), Ldx(O.W, 2, 1, 1000)));
}
