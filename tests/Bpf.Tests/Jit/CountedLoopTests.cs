using BpfTraceSim.Bpf.Isa;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;
using CsCheck;
using static BpfTraceSim.Bpf.Isa.Asm;
using static BpfTraceSim.Bpf.Tests.TestObjects;
using O = BpfTraceSim.Bpf.Isa.Op;

namespace BpfTraceSim.Bpf.Tests.Jit;

/// <summary>
/// Counted single-block loops, which the compiled form runs without per-iteration checks when their
/// entry proves them safe (BpfCountedLoop): interpreter, compiled without and with that copy agree
/// on r0, the count, the fault and the memory, for loops that stay in bounds, run out of their region
/// part way, wrap, never end or hit the instruction limit.
/// </summary>
public class CountedLoopTests
{
    private static readonly byte[] Conds = [O.JLT, O.JLE, O.JNE, O.JGT, O.JGE];
    private static readonly int[] Steps = [1, 2, 3, 4, 8, 16, -1, -2, -4, -8, -3];
    private static readonly byte[] Sizes = [O.B, O.H, O.W, O.DW];

    /// <summary>
    /// r6 walks the context (kind 0), the stack (1), .data (3) or counts (2, 4: and indexes from r8);
    /// r7 or an immediate bounds it, tested at the bottom or, clang's form, at the top with a goto
    /// back; r8 is a fixed pointer (context, stack, .data or read-only .rodata); the body mixes loads and stores through r6 and r8, r10 frame stores and ALU on r0;
    /// an outer loop of reps runs the inner one again (after a context store has copied the context).
    /// </summary>
    private static BpfInsn[] Program(int[] p, int[][] body)
    {
        int kind = (p[0] & 0x7fffffff) % 5;
        int start = p[1] % 160;
        int step = Steps[(p[2] & 0x7fffffff) % Steps.Length];
        byte cond = Conds[(p[3] & 0x7fffffff) % Conds.Length];
        int delta = p[4] % 260;
        bool counter = kind is 2 or 4, immBound = counter && (p[5] & 1) != 0, topExit = (p[10] & 1) != 0;
        int stepAt = (p[6] & 0x7fffffff) % (body.Length + 1);
        int reps = 1 + (p[7] & 0x7fffffff) % 3;
        var l = new List<BpfInsn> { Mov64(0, 0), Mov64(5, reps), Mov64Reg(8, 1) };
        switch ((p[8] & 0x7fffffff) % 4)
        {
            case 1: l.Add(Mov64Reg(8, 10)); l.Add(Alu64Imm(O.ADD, 8, -64)); break;
            case 2: l.AddRange(MapValue(8, 0, 16)); break; // .data
            case 3: l.AddRange(MapValue(8, 1, 8)); break;  // .rodata: stores fault
        }
        int outer = l.Count;
        switch (kind)
        {
            case 0: l.Add(Mov64Reg(6, 1)); l.Add(Alu64Imm(O.ADD, 6, start)); break;
            case 1: l.Add(Mov64Reg(6, 10)); l.Add(Alu64Imm(O.ADD, 6, start * 4 - 560)); break;
            case 2 or 4: l.Add(Mov64(6, start)); break;
            default: l.AddRange(MapValue(6, 0, 0)); l.Add(Alu64Imm(O.ADD, 6, start)); break;
        }
        if (!immBound) { l.Add(Mov64Reg(7, 6)); l.Add(Alu64Imm(O.ADD, 7, delta)); }
        int head = l.Count;
        for (int k = 0; k <= body.Length; k++)
        {
            if (k == stepAt) l.Add(step > 0 ? Alu64Imm(O.ADD, 6, step) : ((p[9] & 1) != 0 ? Alu64Imm(O.SUB, 6, -step) : Alu64Imm(O.ADD, 6, step)));
            if (k == body.Length) break;
            var b = body[k];
            byte size = Sizes[(b[1] & 0x7fffffff) % 4];
            short off = (short)(b[2] % 24);
            int baseReg = kind == 2 || (b[3] & 1) != 0 ? 8 : 6;
            if (kind == 4 && (b[3] & 2) != 0)
            {
                // r2 = r8 + r6: a fixed pointer plus the counter, as clang indexes arrays
                l.Add(Mov64Reg(2, 8)); l.Add(Alu64Reg(O.ADD, 2, 6));
                baseReg = 2;
            }
            switch ((b[0] & 0x7fffffff) % 7)
            {
                case 0: case 1: l.Add(Ldx(size, 3, baseReg, off)); l.Add(Alu64Reg(O.ADD, 0, 3)); break;
                case 2: l.Add(Stx(size, baseReg, 0, off)); break;
                case 3: l.Add(St(size, baseReg, off, b[2])); break;
                case 4: l.Add(Stx(O.DW, 10, 0, (short)(-8 - (b[2] & 0x38)))); break;
                case 5: l.Add(Ldsx((byte)(size == O.DW ? O.W : size), 4, baseReg, off)); l.Add(Alu64Reg(O.XOR, 0, 4)); break;
                default: l.Add(Alu64Imm(O.MUL, 0, 31)); l.Add(Alu64Imm(O.ADD, 9, 1)); break;
            }
        }
        if (topExit)
        {
            // if (!(r6 cond bound)) goto out; goto head (clang's loop form)
            byte exitOp = cond switch { O.JLT => O.JGE, O.JLE => O.JGT, O.JNE => O.JEQ, O.JGT => O.JLE, _ => O.JLT };
            l.Add(immBound ? JmpImm(exitOp, 6, start + delta, 1) : JmpReg(exitOp, 6, 7, 1));
            l.Add(Ja((short)(head - l.Count - 1)));
        }
        else
        {
            short back = (short)(head - l.Count - 1);
            l.Add(immBound ? JmpImm(cond, 6, start + delta, back) : JmpReg(cond, 6, 7, back));
        }
        l.Add(Alu64Imm(O.SUB, 5, 1));
        l.Add(JmpImm(O.JNE, 5, 0, (short)(outer - l.Count - 1)));
        l.Add(Alu64Reg(O.ADD, 0, 9));
        l.Add(Exit());
        return l.ToArray();
    }

    private static BpfInsn[] MapValue(int dst, int map, int off) => [new BpfInsn(O.LDDW, (byte)dst, O.PSEUDO_MAP_VALUE, 0, map), new BpfInsn(0, 0, 0, 0, off)];

    private static BpfMapSpec[] Maps() =>
    [
        new(".data", BpfMapType.Array, 4, 128, 1, 0) { InitialValue = Enumerable.Range(0, 128).Select(i => (byte)(i * 5)).ToArray() },
        new(".rodata", BpfMapType.Array, 4, 64, 1, 0) { InitialValue = Enumerable.Range(0, 64).Select(i => (byte)(i * 3 + 7)).ToArray(), ReadOnly = true },
    ];

    private static (BpfRunResult R, byte[] Stack, byte[]? Ctx) Run(BpfInsn[] prog, byte[] ctx, ulong max, int form)
    {
        var vm = AsmWith(Maps(), null, prog);
        vm.MaxInstructions = max;
        vm.UncheckedLoops = form == 2;
        var r = form == 0 ? vm.Run(ctx, TestObjects.Ctx) : vm.RunCompiled(ctx, TestObjects.Ctx);
        Assert.True(vm.TryGetSpan(vm.StackBase, BpfVm.StackSize * BpfVm.MaxFrames, false, out var stack));
        byte[]? copy = vm.TryGetSpan(vm.ContextAddress, ctx.Length, false, out var c) ? c.ToArray() : null;
        // the stack and .data after the run
        return (r, [.. stack, .. vm.Instance.Maps[0].Storage], copy);
    }

    [Fact]
    public void Random_counted_loops_agree_in_every_form()
    {
        int fast = 0;
        Gen.Select(Gen.Int.Array[12], Gen.Int.Array[4].Array[0, 5], Gen.Int[0, 3], Gen.Int[10, 3000])
            .Sample((p, body, ctxKind, max) =>
            {
                var prog = Program(p, body);
                var ctx = new byte[new[] { 0, 8, 64, 200 }[ctxKind]];
                for (int i = 0; i < ctx.Length; i++) ctx[i] = (byte)(i * 13 + 1);
                var a = Run(prog, (byte[])ctx.Clone(), (ulong)max, 0);
                var b = Run(prog, (byte[])ctx.Clone(), (ulong)max, 1);
                var c = Run(prog, (byte[])ctx.Clone(), (ulong)max, 2);
                foreach (var x in new[] { b, c })
                {
                    Assert.Equal(a.R.Fault, x.R.Fault);
                    Assert.Equal(a.R.Ret, x.R.Ret);
                    Assert.Equal(a.R.Instructions, x.R.Instructions);
                    Assert.Equal(a.Stack, x.Stack);
                    Assert.Equal(a.Ctx, x.Ctx);
                }
                if (a.R.Fault is null) fast++;
            }, iter: 4000);
        Assert.True(fast > 400, $"only {fast} runs ended without a fault");
    }

    [Theory]
    [InlineData(O.JLT, 8, 0, 64, 8)]    // exactly in bounds
    [InlineData(O.JLT, 8, 0, 65, 9)]    // the ninth load starts at 64: past the end
    [InlineData(O.JLE, 8, 0, 56, 8)]
    [InlineData(O.JNE, 8, 0, 64, 8)]
    [InlineData(O.JNE, 8, 0, 60, 9)]    // never lands on the bound: walks off the context
    [InlineData(O.JGT, -8, 56, -8, 8)]  // counting down to the start
    [InlineData(O.JGE, -8, 56, 0, 8)]
    [InlineData(O.JGT, -8, 56, -16, 9)] // one below the start
    public void A_pointer_walk_sums_its_context_or_faults_at_the_first_load_outside(byte cond, int step, int start, int boundOff, int loads)
    {
        var ctx = new byte[64];
        for (int i = 0; i < ctx.Length; i++) ctx[i] = (byte)(i + 1);
        // r0 = 0; r3 = r1 + start; r2 = r1 + boundOff; do { r0 += *(u64 *)r3; r3 += step } while (r3 cond r2)
        var prog = P(Mov64(0, 0), Mov64Reg(3, 1), Alu64Imm(O.ADD, 3, start), Mov64Reg(2, 1), Alu64Imm(O.ADD, 2, boundOff),
            Ldx(O.DW, 4, 3, 0), Alu64Reg(O.ADD, 0, 4), Alu64Imm(O.ADD, 3, step), JmpReg(cond, 3, 2, -4), Exit());
        ulong expect = 0;
        for (int k = 0; k < Math.Min(loads, 8); k++) expect += BitConverter.ToUInt64(ctx, 8 * k);
        foreach (int form in new[] { 0, 1, 2 })
        {
            var r = Run(prog, ctx, 1UL << 20, form).R;
            if (loads <= 8)
            {
                Assert.Null(r.Fault);
                Assert.Equal(expect, (ulong)r.Ret);
                Assert.Equal(5UL + 4UL * (ulong)loads + 1, r.Instructions);
            }
            else
            {
                Assert.Equal(5, r.Fault!.Insn);
                Assert.StartsWith("invalid memory access: read of 8 bytes at 0x", r.Fault.Message);
                Assert.Equal(5UL + 4UL * 8 + 1, r.Instructions);
            }
        }
    }

    [Theory]
    [InlineData(128)]
    [InlineData(136)] // the 17th load is past the 128-byte context
    public void Clangs_indexed_loop_with_the_exit_at_the_top_sums_the_context(int ctxLen)
    {
        // what clang -O2 emits for `for (i = 0; i < n; i++) s += ctx[i]`:
        // r2 = 0; r3 = 0; L: r4 = r1; r4 += r2; r0 = *(u64 *)(r4 + 0); r0 += r3; r2 += 8; r3 = r0;
        // if r2 == ctxLen goto out; goto L; out: exit
        var ctx = new byte[Math.Min(ctxLen, 128)];
        for (int i = 0; i < ctx.Length; i++) ctx[i] = (byte)(i * 11 + 3);
        int bound = 8 * (ctxLen / 8);
        var prog = P(Mov64(2, 0), Mov64(3, 0), Mov64Reg(4, 1), Alu64Reg(O.ADD, 4, 2), Ldx(O.DW, 0, 4, 0), Alu64Reg(O.ADD, 0, 3),
            Alu64Imm(O.ADD, 2, 8), Mov64Reg(3, 0), JmpImm(O.JEQ, 2, bound, 1), Ja(-8), Exit());
        ulong sum = 0;
        for (int k = 0; k < 16; k++) sum += BitConverter.ToUInt64(ctx, 8 * k);
        foreach (int form in new[] { 0, 1, 2 })
        {
            var r = Run(prog, ctx, 1UL << 20, form).R;
            if (ctxLen == 128)
            {
                Assert.Null(r.Fault);
                Assert.Equal(sum, (ulong)r.Ret);
                Assert.Equal(2UL + 16 * 8 - 1 + 1, r.Instructions); // the last iteration skips the goto
            }
            else
            {
                Assert.Equal(4, r.Fault!.Insn);
                Assert.Equal(2UL + 16 * 8 + 3, r.Instructions);
            }
        }
    }

    [Fact]
    public void A_counted_loop_past_the_instruction_limit_faults_at_the_same_back_edge()
    {
        // r1 = 1000; do { r0 += r1; r1 -= 1 } while (r1 != 0): 3,002 instructions, over a limit of 2,000
        var prog = P(Mov64(0, 0), Mov64(1, 1000), Alu64Reg(O.ADD, 0, 1), Alu64Imm(O.SUB, 1, 1), JmpImm(O.JNE, 1, 0, -3), Exit());
        foreach (int form in new[] { 0, 1, 2 })
        {
            var ok = Run(prog, [], 3002, form).R;
            Assert.Null(ok.Fault);
            Assert.Equal(500500L, ok.Ret);
            Assert.Equal(3003UL, ok.Instructions);
            var r = Run(prog, [], 2000, form).R;
            Assert.Equal(4, r.Fault!.Insn);
            Assert.Equal(2003UL, r.Instructions);
        }
    }
}
