using BpfTraceSim.Bpf.Helpers;
using BpfTraceSim.Bpf.Isa;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;
using static BpfTraceSim.Bpf.Isa.Asm;
using static BpfTraceSim.Bpf.Tests.TestObjects;
using O = BpfTraceSim.Bpf.Isa.Op;

namespace BpfTraceSim.Bpf.Tests.Vm;

/// <summary>Every point of docs/ebpf-isa.md §1, hand-assembled, run by the interpreter AND the compiler (results must agree).</summary>
public class IsaTests
{
    internal static BpfRunResult Both(BpfVm vmI, BpfVm vmC, byte[]? ctx = null)
    {
        var a = vmI.Run(ctx ?? [], Ctx);
        var b = vmC.RunCompiled(ctx ?? [], Ctx);
        Assert.Equal(a.Ret, b.Ret);
        Assert.Equal(a.Fault, b.Fault);
        Assert.Equal(a.Instructions, b.Instructions);
        return a;
    }

    internal static BpfRunResult Run(byte[]? ctx, params BpfInsn[] insns) => Both(Asm(insns), Asm(insns), ctx);
    internal static long Ret(params BpfInsn[] insns) => Run(null, insns) is var r && r.Fault is null ? r.Ret : throw new Xunit.Sdk.XunitException(r.Fault!.ToString());

    private static BpfInsn[] Ld64(int reg, ulong v) => LdImm64(reg, v);

    // ---- 32-bit ALU zero-extension ----
    [Fact] public void Alu32_add_zero_extends() => Assert.Equal(0L, Ret(P(Mov64(0, -1), Alu32Imm(O.ADD, 0, 1), Exit())));
    [Fact] public void Alu32_mov_zero_extends() => Assert.Equal(0xffffffffL, Ret(P(Mov64(1, -1), Mov64(0, 0), Alu32Reg(O.MOV, 0, 1), Exit())));
    [Fact] public void Alu32_mov_imm_zero_extends() => Assert.Equal(0xffffffffL, Ret(P(Alu32Imm(O.MOV, 0, -1), Exit())));
    [Fact] public void Alu64_mov_imm_sign_extends() => Assert.Equal(-1L, Ret(P(Mov64(0, -1), Exit())));
    [Fact] public void Alu32_neg_zero_extends() => Assert.Equal(0xffffffffL, Ret(P(Mov64(0, 1), Alu32Imm(O.NEG, 0, 0), Exit())));
    [Fact] public void Alu32_arsh_is_arithmetic_on_32_bits() =>
        Assert.Equal(0xffffffffL, Ret(P(Alu32Imm(O.MOV, 0, unchecked((int)0x80000000)), Alu32Imm(O.ARSH, 0, 31), Exit())));

    // ---- shift masking ----
    [Theory]
    [InlineData(O.LSH, 65, 2L)]
    [InlineData(O.LSH, 64, 1L)]
    [InlineData(O.RSH, 127, 0L)]
    public void Shift64_imm_masks_by_63(byte op, int amount, long expected) =>
        Assert.Equal(expected, Ret(P(Mov64(0, 1), Alu64Imm(op, 0, amount), Exit())));
    [Fact] public void Shift32_reg_masks_by_31() => Assert.Equal(2L, Ret(P(Mov64(0, 1), Mov64(1, 33), Alu32Reg(O.LSH, 0, 1), Exit())));
    [Fact] public void Shift32_imm_masks_by_31() => Assert.Equal(0x40000000L, Ret(P(Alu32Imm(O.MOV, 0, unchecked((int)0x80000000)), Alu32Imm(O.RSH, 0, 33), Exit())));
    [Fact] public void Arsh64_reg_masks_by_63() => Assert.Equal(-1L, Ret(P(Mov64(0, -2), Mov64(1, 64 + 1), Alu64Reg(O.ARSH, 0, 1), Exit())));

    // ---- division and modulo ----
    [Fact] public void Div64_by_zero_reg_is_zero() => Assert.Equal(0L, Ret(P(Mov64(0, 7), Mov64(1, 0), Alu64Reg(O.DIV, 0, 1), Exit())));
    [Fact] public void Div64_by_zero_imm_is_zero() => Assert.Equal(0L, Ret(P(Mov64(0, 7), Alu64Imm(O.DIV, 0, 0), Exit())));
    [Fact] public void Div32_by_zero_is_zero() => Assert.Equal(0L, Ret(P(Mov64(0, 7), Mov64(1, 0), Alu32Reg(O.DIV, 0, 1), Exit())));
    [Fact] public void Mod64_by_zero_keeps_dst() => Assert.Equal(-7L, Ret(P(Mov64(0, -7), Mov64(1, 0), Alu64Reg(O.MOD, 0, 1), Exit())));
    [Fact] public void Mod32_by_zero_keeps_dst_zero_extended() =>
        Assert.Equal(5L, Ret(P(Ld64(0, 0xffffffff_00000005UL), Mov64(1, 0), Alu32Reg(O.MOD, 0, 1), Exit())));
    [Fact] public void Div32_uses_low_32_bits_unsigned() =>
        Assert.Equal(0x7fffffffL, Ret(P(Mov64(0, -1), Mov64(1, 2), Alu32Reg(O.DIV, 0, 1), Exit())));
    [Fact] public void Div64_is_unsigned() => Assert.Equal(0x7fffffffffffffffL, Ret(P(Mov64(0, -1), Alu64Imm(O.DIV, 0, 2), Exit())));
    [Fact] public void Sdiv64_is_signed() => Assert.Equal(-3L, Ret(P(Mov64(0, -7), Signed(Alu64Imm(O.DIV, 0, 2)), Exit())));
    [Fact] public void Smod64_sign_follows_dividend() => Assert.Equal(-1L, Ret(P(Mov64(0, -7), Signed(Alu64Imm(O.MOD, 0, 2)), Exit())));
    [Fact] public void Sdiv64_intmin_by_minus_one_does_not_trap() =>
        Assert.Equal(long.MinValue, Ret(P(Ld64(0, 0x8000000000000000UL), Mov64(1, -1), Signed(Alu64Reg(O.DIV, 0, 1)), Exit())));
    [Fact] public void Smod64_intmin_by_minus_one_is_zero() =>
        Assert.Equal(0L, Ret(P(Ld64(0, 0x8000000000000000UL), Signed(Alu64Imm(O.MOD, 0, -1)), Exit())));
    [Fact] public void Sdiv32_intmin_by_minus_one_does_not_trap() =>
        Assert.Equal(0x80000000L, Ret(P(Alu32Imm(O.MOV, 0, int.MinValue), Signed(Alu32Imm(O.DIV, 0, -1)), Exit())));
    [Fact] public void Smod32_intmin_by_minus_one_is_zero() =>
        Assert.Equal(0L, Ret(P(Alu32Imm(O.MOV, 0, int.MinValue), Mov64(1, -1), Signed(Alu32Reg(O.MOD, 0, 1)), Exit())));
    [Fact] public void Sdiv_by_zero_is_zero_and_smod_by_zero_keeps_dst() =>
        Assert.Equal(-5L, Ret(P(Mov64(0, -5), Mov64(2, -5), Mov64(1, 0), Signed(Alu64Reg(O.DIV, 2, 1)), Signed(Alu64Reg(O.MOD, 0, 1)), Alu64Reg(O.ADD, 0, 2), Exit())));
    [Fact] public void Smod32_by_zero_zero_extends() =>
        Assert.Equal(0xfffffffbL, Ret(P(Mov64(0, -5), Signed(Alu32Imm(O.MOD, 0, 0)), Exit())));

    // ---- sign extension (v4) ----
    [Fact] public void Movsx64_8_16_32() =>
        Assert.Equal(-128L - 32768L - 2147483648L, Ret(P(Mov64(1, 0x80), MovSx64(2, 1, 8), Mov64(1, 0x8000), MovSx64(3, 1, 16),
            Ld64(1, 0x80000000UL), MovSx64(0, 1, 32), Alu64Reg(O.ADD, 0, 2), Alu64Reg(O.ADD, 0, 3), Exit())));
    [Fact] public void Movsx32_zero_extends_the_32_bit_result() => Assert.Equal(0xffffff80L, Ret(P(Mov64(1, 0x80), MovSx32(0, 1, 8), Exit())));
    [Fact] public void Ldsx_sign_extends_loads() =>
        Assert.Equal(-2L, Ret(P(St(O.H, 10, -8, 0xfffe), Ldsx(O.H, 0, 10, -8), Exit())));

    // ---- byte swaps ----
    private const ulong V = 0x1122334455667788UL;
    [Theory]
    [InlineData(false, 16, 0x7788UL)]
    [InlineData(false, 32, 0x55667788UL)]
    [InlineData(false, 64, V)]
    [InlineData(true, 16, 0x8877UL)]
    [InlineData(true, 32, 0x88776655UL)]
    [InlineData(true, 64, 0x8877665544332211UL)]
    public void End_to_le_and_be(bool be, int bits, ulong expected) =>
        Assert.Equal((long)expected, Ret(P(Ld64(0, V), be ? Be(0, bits) : Le(0, bits), Exit())));
    [Theory]
    [InlineData(16, 0x8877UL)]
    [InlineData(32, 0x88776655UL)]
    [InlineData(64, 0x8877665544332211UL)]
    public void Bswap_swaps_unconditionally_and_truncates(int bits, ulong expected) =>
        Assert.Equal((long)expected, Ret(P(Ld64(0, V), Bswap(0, bits), Exit())));

    // ---- ld_imm64 and jumps counting slots ----
    [Fact]
    public void Ld_imm64_takes_two_slots_and_jumps_count_them()
    {
        var r = Run(null, P(Mov64(0, 1), Ja(2), Ld64(0, 99), Exit()));
        Assert.Equal(1L, r.Ret);
        Assert.Equal(3UL, r.Instructions);
        Assert.Equal(unchecked((long)0xdeadbeefcafef00dUL), Ret(P(Ld64(0, 0xdeadbeefcafef00dUL), Exit())));
    }

    [Fact]
    public void Jump_into_second_slot_is_refused()
    {
        var e = Assert.Throws<BpfVerifierException>(() => Asm(P(Ja(1), Ld64(0, 1), Exit())));
        Assert.Equal("jump into the middle of ld_imm64 at 2 (section 'raw_tp/test', insn 0)", e.Message);
    }

    [Fact]
    public void Gotol_jumps_by_imm()
    {
        var r = Run(null, P(Mov64(0, 1), Gotol(1), Mov64(0, 2), Exit()));
        Assert.Equal(1L, r.Ret);
        Assert.Equal(3UL, r.Instructions);
    }

    [Fact]
    public void Jmp32_compares_low_halves_signed()
    {
        // r1 = 0x1_00000000 - 1 -> low half -1: JSLT 0 taken in 32 bits, not in 64
        Assert.Equal(1L, Ret(P(Ld64(1, 0xffffffffUL), Mov64(0, 0), Jmp32Imm(O.JSLT, 1, 0, 1), Exit(), Mov64(0, 1), Exit())));
        Assert.Equal(0L, Ret(P(Ld64(1, 0xffffffffUL), Mov64(0, 0), JmpImm(O.JSLT, 1, 0, 1), Exit(), Mov64(0, 1), Exit())));
    }

    [Fact]
    public void Jmp_imm_is_sign_extended_to_64_bits()
    {
        Assert.Equal(1L, Ret(P(Mov64(1, -1), Mov64(0, 0), JmpImm(O.JEQ, 1, -1, 1), Exit(), Mov64(0, 1), Exit())));
    }

    [Fact]
    public void Pseudo_map_value_and_map_idx_resolve_to_the_instance()
    {
        var data = new BpfMapSpec(".data", BpfMapType.Array, 4, 16, 1, 0) { InitialValue = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16] };
        var p = P(new BpfInsn(O.LDDW, 1, O.PSEUDO_MAP_VALUE, 0, 0), new BpfInsn(0, 0, 0, 0, 8), Ldx(O.B, 0, 1, 0), Exit());
        var vm = AsmWith([data], null, p);
        Assert.Equal(9L, vm.Run([], Ctx).Ret);
        Assert.Equal(9L, vm.RunCompiled([], Ctx).Ret);
        var p2 = P(new BpfInsn(O.LDDW, 1, O.PSEUDO_MAP_IDX, 0, 0), new BpfInsn(0, 0, 0, 0, 0), Mov64Reg(0, 1), Exit());
        var vm2 = AsmWith([data], null, p2);
        Assert.Equal((long)vm2.Instance.Maps[0].Handle, vm2.Run([], Ctx).Ret);
    }

    [Fact]
    public void Pseudo_btf_id_of_no_kernel_variable_is_refused()
    {
        // typed __ksyms now load (TypedKsymTests); an id the object's externs do not name is the kernel's -ENOENT
        var e = Assert.Throws<BpfVerifierException>(() => Asm(P(new BpfInsn(O.LDDW, 1, O.PSEUDO_BTF_ID, 0, 5), new BpfInsn(0, 0, 0, 0, 0), Exit())));
        Assert.Equal("ldimm64 insn specifies invalid btf_id 5. (section 'raw_tp/test', insn 0)", e.Message);
        Assert.Equal(BpfTraceSim.Kernel.Errno.ENOENT, e.Errno);
    }

    // ---- calls ----
    [Fact]
    public void Bpf_to_bpf_call_preserves_r6_r9_and_has_its_own_frame()
    {
        var p = P(
            Mov64(6, 6), Mov64(7, 7), Mov64(8, 8), Mov64(9, 9),
            St(O.DW, 10, -8, 1000),
            Mov64Reg(1, 10),
            CallLocal(7),                     // -> insn 14
            Alu64Reg(O.ADD, 0, 6), Alu64Reg(O.ADD, 0, 7), Alu64Reg(O.ADD, 0, 8), Alu64Reg(O.ADD, 0, 9),
            Ldx(O.DW, 1, 10, -8), Alu64Reg(O.ADD, 0, 1),
            Exit(),
            // callee: clobbers r6-r9, writes its own frame, reads caller's stack through r1
            Mov64(6, 0), Mov64(7, 0), Mov64(8, 0), Mov64(9, 0),
            St(O.DW, 10, -8, 5),
            Ldx(O.DW, 0, 1, -8),              // 1000 from the caller's frame
            Ldx(O.DW, 2, 10, -8), Alu64Reg(O.ADD, 0, 2),
            Mov64Reg(3, 1), Alu64Reg(O.SUB, 3, 10), Alu64Reg(O.ADD, 0, 3),   // caller fp - callee fp = 512
            Exit());
        // 1000 + 5 + 512 + 6 + 7 + 8 + 9 + 1000 (caller's slot untouched)
        Assert.Equal(2547L, Ret(p));
    }

    [Fact]
    public void Call_depth_is_limited_to_8_frames()
    {
        // f(n): if n == 0 return 0; return f(n-1) + 1
        BpfInsn[] Prog(int n) => P(Mov64(1, n), CallLocal(1), Exit(),
            JmpImm(O.JNE, 1, 0, 2), Mov64(0, 0), Exit(),
            Alu64Imm(O.SUB, 1, 1), CallLocal(-5), Alu64Imm(O.ADD, 0, 1), Exit());
        Assert.Equal(6L, Ret(Prog(6)));  // main + 7 frames
        var r = Run(null, Prog(7));
        Assert.Equal(7, r.Fault!.Insn);
        Assert.Equal("call stack too deep: more than 8 frames (the verifier would have refused this program)", r.Fault.Message);
    }

    [Fact]
    public void R10_is_read_only()
    {
        var e = Assert.Throws<BpfVerifierException>(() => Asm(P(Mov64(10, 0), Exit())));
        Assert.Equal("frame pointer r10 is read only (section 'raw_tp/test', insn 0)", e.Message);
    }

    [Fact]
    public void Kfunc_call_is_refused()
    {
        var e = Assert.Throws<BpfVerifierException>(() => Asm(P(new BpfInsn(O.JMP | O.CALL, 0, O.CALL_KFUNC, 0, 1234), Exit())));
        Assert.Equal("kfunc calls (BTF id 1234) are not supported (section 'raw_tp/test', insn 0)", e.Message);
    }

    [Fact]
    public void Helper_call_by_id_passes_r1_r5_and_returns_r0()
    {
        var t = BpfHelperTable.CreateGeneric().Register(250, (vm, a, b, c, d, e) => a * 10000 + b * 1000 + c * 100 + d * 10 + e);
        var p = P(Mov64(1, 1), Mov64(2, 2), Mov64(3, 3), Mov64(4, 4), Mov64(5, 5), Call(250), Exit());
        var r = Both(AsmWith(null, t, p), AsmWith(null, t, p));
        Assert.Equal(12345L, r.Ret);
        Assert.Equal(new BpfHelperCall(250, "helper#250", 12345), Assert.Single(r.Helpers));
    }

    [Fact]
    public void Callx_calls_a_function_address_or_a_helper_id()
    {
        var p = P(new BpfInsn(O.LDDW, 2, O.PSEUDO_FUNC, 0, 7), new BpfInsn(0, 0, 0, 0, 0), // r2 = &f (insn 0 + 1 + 7)
            CallX(2), Mov64Reg(6, 0),
            Mov64(3, 8), CallX(3),                               // helper 8: smp_processor_id -> 0
            Alu64Reg(O.ADD, 0, 6), Exit(),
            Mov64(0, 41), Exit());
        Assert.Equal(41L, Ret(p));
        var bad = Run(null, P(Mov64(3, 12345), CallX(3), Exit()));
        Assert.Equal(1, bad.Fault!.Insn);
    }

    // ---- legacy packet access ----
    [Fact]
    public void Ld_abs_and_ld_ind_read_big_endian_from_the_context()
    {
        byte[] pkt = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66];
        var r = Run(pkt, P(Mov64Reg(6, 1), LdAbs(O.W, 1), Mov64Reg(7, 0), Mov64(2, 3), LdInd(O.H, 2, 1), Alu64Imm(O.LSH, 7, 16), Alu64Reg(O.OR, 0, 7), Exit()));
        Assert.Equal(0x22334455_5566L, r.Ret);
        Assert.Equal(0x11L, Run(pkt, P(Mov64Reg(6, 1), LdAbs(O.B, 0), Exit())).Ret);
    }

    [Fact]
    public void Ld_abs_out_of_bounds_exits_with_zero()
    {
        var r = Run([1, 2], P(Mov64Reg(6, 1), Mov64(0, 7), LdAbs(O.W, 0), Mov64(0, 9), Exit()));
        Assert.Equal(0L, r.Ret);
        Assert.Equal(3UL, r.Instructions);
        Assert.Null(r.Fault);
    }

    // ---- atomics ----
    [Theory]
    [InlineData(O.ADD, 0x0fUL, 0UL)]
    [InlineData(O.OR, 0x0fUL, 0UL)]
    [InlineData(O.AND, 0x0cUL, 0UL)]
    [InlineData(O.XOR, 0x03UL, 0UL)]
    public void Atomic64_without_fetch(int op, ulong expectedMem, ulong _)
    {
        // mem = 0x0c, src = 0x03 (ADD -> 0x0f, OR -> 0x0f, AND -> 0x00? no: 0x0c & 0x03 = 0) 
        ulong exp = op switch { O.ADD => 0x0f, O.OR => 0x0f, O.AND => 0x00, _ => 0x0f };
        _ = expectedMem;
        var p = P(St(O.DW, 10, -8, 0x0c), Mov64(1, 0x03), Atomic(O.DW, 10, 1, -8, op), Ldx(O.DW, 0, 10, -8), Alu64Imm(O.LSH, 0, 8), Alu64Reg(O.OR, 0, 1), Exit());
        Assert.Equal((long)((exp << 8) | 0x03), Ret(p)); // src unchanged without FETCH
    }

    [Theory]
    [InlineData(O.ADD | O.FETCH, 0x0fUL)]
    [InlineData(O.OR | O.FETCH, 0x0fUL)]
    [InlineData(O.AND | O.FETCH, 0x00UL)]
    [InlineData(O.XOR | O.FETCH, 0x0fUL)]
    [InlineData(O.XCHG, 0x03UL)]
    public void Atomic64_fetch_returns_old_value_in_src(int op, ulong expectedMem)
    {
        var p = P(St(O.DW, 10, -8, 0x0c), Mov64(1, 0x03), Atomic(O.DW, 10, 1, -8, op), Ldx(O.DW, 0, 10, -8), Alu64Imm(O.LSH, 0, 8), Alu64Reg(O.OR, 0, 1), Exit());
        Assert.Equal((long)((expectedMem << 8) | 0x0c), Ret(p));
    }

    [Fact]
    public void Atomic32_fetch_zero_extends_and_touches_4_bytes()
    {
        var p = P(St(O.DW, 10, -8, -1), Mov64(1, 1), Atomic(O.W, 10, 1, -8, O.ADD | O.FETCH),
            Ldx(O.DW, 0, 10, -8), Alu64Reg(O.ADD, 0, 1), Exit());
        // mem low half ffffffff + 1 = 0 (high half kept): 0xffffffff_00000000; src = old 0xffffffff
        Assert.Equal(unchecked((long)0xffffffff_00000000UL) + 0xffffffffL, Ret(p));
    }

    [Fact]
    public void Cmpxchg_compares_with_r0()
    {
        // success: mem 5 == r0 5 -> mem = 9, r0 = 5
        Assert.Equal(0x0905L, Ret(P(St(O.DW, 10, -8, 5), Mov64(0, 5), Mov64(1, 9), Atomic(O.DW, 10, 1, -8, O.CMPXCHG),
            Ldx(O.DW, 2, 10, -8), Alu64Imm(O.LSH, 2, 8), Alu64Reg(O.OR, 0, 2), Exit())));
        // failure: mem 5 != r0 4 -> mem stays 5, r0 = 5
        Assert.Equal(0x0505L, Ret(P(St(O.DW, 10, -8, 5), Mov64(0, 4), Mov64(1, 9), Atomic(O.DW, 10, 1, -8, O.CMPXCHG),
            Ldx(O.DW, 2, 10, -8), Alu64Imm(O.LSH, 2, 8), Alu64Reg(O.OR, 0, 2), Exit())));
        // 32-bit: compares the low halves, r0 gets the zero-extended old value
        Assert.Equal(0xfffffffeL, Ret(P(St(O.DW, 10, -8, -2), Ld64(0, 0x12345678_fffffffeUL), Mov64(1, 9), Atomic(O.W, 10, 1, -8, O.CMPXCHG), Exit())));
    }

    // ---- memory faults ----
    [Fact]
    public void Null_load_is_a_fault_with_the_instruction_index()
    {
        var r = Run(null, P(Mov64(1, 0), Mov64(2, 0), Ldx(O.DW, 0, 1, 0), Exit()));
        Assert.Equal(2, r.Fault!.Insn);
        Assert.Equal("invalid memory access: read of 8 bytes at 0x0, outside every region the program may touch (the verifier would have refused this program)", r.Fault.Message);
        Assert.Equal(3UL, r.Instructions);
    }

    [Fact]
    public void Stack_overrun_below_the_last_frame_faults()
    {
        var r = Run(null, P(St(O.DW, 10, -4096 - 8, 1), Mov64(0, 0), Exit()));
        Assert.Equal(0, r.Fault!.Insn);
        var r2 = Run(null, P(Ldx(O.DW, 0, 10, 0), Exit())); // at r10: past the top
        Assert.StartsWith("invalid memory access: read of 8 bytes at 0x", r2.Fault!.Message);
    }

    [Fact]
    public void Context_reads_are_bounded_by_its_length()
    {
        Assert.Equal(0x0807060504030201L, Run([1, 2, 3, 4, 5, 6, 7, 8], P(Ldx(O.DW, 0, 1, 0), Exit())).Ret);
        Assert.Equal(0, Run([1, 2, 3, 4], P(Ldx(O.DW, 0, 1, 0), Exit())).Fault!.Insn);
    }

    [Fact]
    public void R1_r2_r10_at_entry()
    {
        var r = Run(new byte[24], P(Mov64Reg(0, 2), Exit()));
        Assert.Equal(24L, r.Ret);
        var vm = Asm(P(Mov64Reg(0, 10), Exit()));
        Assert.Equal((long)vm.FramePointer, vm.Run([], Ctx).Ret);
        Assert.Equal((long)(vm.StackBase + 4096), vm.Run([], Ctx).Ret);
        Assert.Equal(0L, Ret(P(Alu64Reg(O.ADD, 0, 3), Alu64Reg(O.ADD, 0, 4), Alu64Reg(O.ADD, 0, 5), Alu64Reg(O.ADD, 0, 6),
            Alu64Reg(O.ADD, 0, 7), Alu64Reg(O.ADD, 0, 8), Alu64Reg(O.ADD, 0, 9), Exit())));
    }

    [Fact]
    public void Rodata_is_read_only_at_run_time()
    {
        var ro = new BpfMapSpec(".rodata", BpfMapType.Array, 4, 8, 1, 0) { InitialValue = new byte[8], ReadOnly = true };
        var p = P(new BpfInsn(O.LDDW, 1, O.PSEUDO_MAP_VALUE, 0, 0), new BpfInsn(0, 0, 0, 0, 0), St(O.W, 1, 0, 1), Exit());
        var r = Both(AsmWith([ro], null, p), AsmWith([ro], null, p));
        Assert.Equal(2, r.Fault!.Insn);
        Assert.Contains("(read-only)", r.Fault.Message);
    }

    [Fact]
    public void Kernel_memory_is_readable_directly()
    {
        var vm = Asm(P(Ldx(O.W, 0, 1, 0), Exit()));
        ulong k = vm.Memory.Map(Kernel.AddressSpace.Kernel, [0x78, 0x56, 0x34, 0x12]);
        var vm2 = Asm(P(Ld64(1, k), Ldx(O.W, 0, 1, 0), Exit()));
        // the second VM has its own memory: map the same bytes there
        ulong k2 = vm2.Memory.Map(Kernel.AddressSpace.Kernel, [0x78, 0x56, 0x34, 0x12]);
        Assert.Equal(k, k2);
        Assert.Equal(0x12345678L, vm2.Run([], Ctx).Ret);
        Assert.Equal(0x12345678L, vm2.RunCompiled([], Ctx).Ret);
    }

    [Fact]
    public void Instruction_limit_stops_an_endless_loop()
    {
        var vm = Asm(P(Ja(-1), Exit()));
        vm.MaxInstructions = 1000;
        var r = vm.Run([], Ctx);
        Assert.Equal(0, r.Fault!.Insn);
        Assert.Equal(1001UL, r.Instructions);
        var rc = vm.RunCompiled([], Ctx);
        Assert.Equal(r.Fault, rc.Fault);
        Assert.Equal(1001UL, rc.Instructions);
    }

    [Theory]
    [InlineData(0x8f)] // ALU64 NEG with X
    [InlineData(0xe7)] // no ALU op 0xe0
    [InlineData(0x38)] // LD ABS DW
    [InlineData(0xf5)] // no JMP op 0xf0
    public void Invalid_opcodes_are_refused_at_load(int opcode)
    {
        var e = Assert.Throws<BpfVerifierException>(() => Asm(P(new BpfInsn((byte)opcode, 0, 0, 0, 0), Exit())));
        Assert.Equal(0, e.Insn);
    }

    [Fact]
    public void Falling_off_the_end_is_refused()
    {
        var e = Assert.Throws<BpfVerifierException>(() => Asm(P(Mov64(0, 0))));
        Assert.Equal("the last instruction is not exit or a jump: execution would fall off the end (section 'raw_tp/test', insn 0)", e.Message);
    }
}
