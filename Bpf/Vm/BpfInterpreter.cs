using System.Runtime.CompilerServices;
using BpfTraceSim.Bpf.Isa;

namespace BpfTraceSim.Bpf.Vm;

public sealed unsafe partial class BpfVm
{
    /// <summary>The interpreter: one loop over one switch on pre-decoded instructions.</summary>
    /// <summary>
    /// Runs from the entry the VM's fields name (<see cref="_entry"/>: the program's first instruction
    /// at depth 0 for a run; a bpf_loop callback's first instruction one frame below its caller)
    /// until the exit of that frame. `count` is this activation's own instructions; the limit checks
    /// compare it with <see cref="_budget"/>, MaxInstructions less what other activations ran.
    /// The entry comes in fields, not parameters, to leave this loop's code as it was.
    /// </summary>
    [SkipLocalsInit]
    private ulong Interpret(ulong r1, ulong r2) =>
        _tail.InProgram ? Interpret<WithTailCalls>(r1, r2) : Interpret<NoTailCalls>(r1, r2);

    /// <summary>
    /// The loop, instantiated twice: TMode.TailCalls is a constant of each instantiation, so a program
    /// without bpf_tail_call runs code in which the tail-call branch does not exist (with it, every
    /// interpreted program ran markedly slower: this method's code is that sensitive).
    /// </summary>
    [SkipLocalsInit]
    private ulong Interpret<TMode>(ulong r1, ulong r2) where TMode : struct, ITailMode
    {
        ulong* r = stackalloc ulong[16];
        for (int k = 0; k < 16; k++) r[k] = 0;
        r[1] = r1;
        r[2] = r2;
        r[10] = _entry.Fp;
        r[11] = (ulong)_entry.Depth;
        r[12] = (ulong)_entry.Depth; // the frame whose exit ends this run
        // Only the registers pointer, the instruction pointer and the count live in locals (the
        // call depth in r[11]); the stack, its base, the code and the limit are read from fields
        // where needed, so the JIT keeps the hot three in callee-saved registers across the
        // slow-path calls instead of spilling them on every step.
        ulong count = 0; // this activation's own instructions (BpfVmLoop: the run's total adds its callbacks')
        // i points at the current instruction; the loop's step moves it to the next one, so a jump
        // adds its offset and `continue`s.
        DecodedInsn* i = CodePtr + _entry.Pc;
        // No try/finally here: every fault carries the count, so `count` can live in a register.
        {
            for (;; i++)
            {
                count++;
                switch (i->Op)
                {
                    case Op.ALU64 | Op.ADD | Op.K: r[i->Dst] += (ulong)i->Imm; continue;
                    case Op.ALU64 | Op.ADD | Op.X: r[i->Dst] += r[i->Src]; continue;
                    case Op.ALU64 | Op.SUB | Op.K: r[i->Dst] -= (ulong)i->Imm; continue;
                    case Op.ALU64 | Op.SUB | Op.X: r[i->Dst] -= r[i->Src]; continue;
                    case Op.ALU64 | Op.MUL | Op.K: r[i->Dst] *= (ulong)i->Imm; continue;
                    case Op.ALU64 | Op.MUL | Op.X: r[i->Dst] *= r[i->Src]; continue;
                    case Op.ALU64 | Op.DIV | Op.K: r[i->Dst] = BpfOps.Div64(r[i->Dst], (ulong)i->Imm); continue;
                    case Op.ALU64 | Op.DIV | Op.X: r[i->Dst] = BpfOps.Div64(r[i->Dst], r[i->Src]); continue;
                    case Op.ALU64 | Op.OR | Op.K: r[i->Dst] |= (ulong)i->Imm; continue;
                    case Op.ALU64 | Op.OR | Op.X: r[i->Dst] |= r[i->Src]; continue;
                    case Op.ALU64 | Op.AND | Op.K: r[i->Dst] &= (ulong)i->Imm; continue;
                    case Op.ALU64 | Op.AND | Op.X: r[i->Dst] &= r[i->Src]; continue;
                    case Op.ALU64 | Op.LSH | Op.K: r[i->Dst] <<= (int)((ulong)i->Imm & 63); continue;
                    case Op.ALU64 | Op.LSH | Op.X: r[i->Dst] <<= (int)(r[i->Src] & 63); continue;
                    case Op.ALU64 | Op.RSH | Op.K: r[i->Dst] >>= (int)((ulong)i->Imm & 63); continue;
                    case Op.ALU64 | Op.RSH | Op.X: r[i->Dst] >>= (int)(r[i->Src] & 63); continue;
                    case Op.ALU64 | Op.MOD | Op.K: r[i->Dst] = BpfOps.Mod64(r[i->Dst], (ulong)i->Imm); continue;
                    case Op.ALU64 | Op.MOD | Op.X: r[i->Dst] = BpfOps.Mod64(r[i->Dst], r[i->Src]); continue;
                    case Op.ALU64 | Op.XOR | Op.K: r[i->Dst] ^= (ulong)i->Imm; continue;
                    case Op.ALU64 | Op.XOR | Op.X: r[i->Dst] ^= r[i->Src]; continue;
                    case Op.ALU64 | Op.MOV | Op.K: r[i->Dst] = (ulong)i->Imm; continue;
                    case Op.ALU64 | Op.MOV | Op.X: r[i->Dst] = r[i->Src]; continue;
                    case Op.ALU64 | Op.ARSH | Op.K: r[i->Dst] = (ulong)((long)r[i->Dst] >> (int)((ulong)i->Imm & 63)); continue;
                    case Op.ALU64 | Op.ARSH | Op.X: r[i->Dst] = (ulong)((long)r[i->Dst] >> (int)(r[i->Src] & 63)); continue;
                    case Op.ALU64 | Op.NEG: r[i->Dst] = 0 - r[i->Dst]; continue;
                    case Op.ALU | Op.ADD | Op.K: r[i->Dst] = (uint)((uint)r[i->Dst] + (uint)(ulong)i->Imm); continue;
                    case Op.ALU | Op.ADD | Op.X: r[i->Dst] = (uint)((uint)r[i->Dst] + (uint)r[i->Src]); continue;
                    case Op.ALU | Op.SUB | Op.K: r[i->Dst] = (uint)((uint)r[i->Dst] - (uint)(ulong)i->Imm); continue;
                    case Op.ALU | Op.SUB | Op.X: r[i->Dst] = (uint)((uint)r[i->Dst] - (uint)r[i->Src]); continue;
                    case Op.ALU | Op.MUL | Op.K: r[i->Dst] = (uint)((uint)r[i->Dst] * (uint)(ulong)i->Imm); continue;
                    case Op.ALU | Op.MUL | Op.X: r[i->Dst] = (uint)((uint)r[i->Dst] * (uint)r[i->Src]); continue;
                    case Op.ALU | Op.DIV | Op.K: r[i->Dst] = BpfOps.Div32(r[i->Dst], (ulong)i->Imm); continue;
                    case Op.ALU | Op.DIV | Op.X: r[i->Dst] = BpfOps.Div32(r[i->Dst], r[i->Src]); continue;
                    case Op.ALU | Op.OR | Op.K: r[i->Dst] = (uint)r[i->Dst] | (uint)(ulong)i->Imm; continue;
                    case Op.ALU | Op.OR | Op.X: r[i->Dst] = (uint)r[i->Dst] | (uint)r[i->Src]; continue;
                    case Op.ALU | Op.AND | Op.K: r[i->Dst] = (uint)r[i->Dst] & (uint)(ulong)i->Imm; continue;
                    case Op.ALU | Op.AND | Op.X: r[i->Dst] = (uint)r[i->Dst] & (uint)r[i->Src]; continue;
                    case Op.ALU | Op.LSH | Op.K: r[i->Dst] = (uint)r[i->Dst] << (int)((ulong)i->Imm & 31); continue;
                    case Op.ALU | Op.LSH | Op.X: r[i->Dst] = (uint)r[i->Dst] << (int)(r[i->Src] & 31); continue;
                    case Op.ALU | Op.RSH | Op.K: r[i->Dst] = (uint)r[i->Dst] >> (int)((ulong)i->Imm & 31); continue;
                    case Op.ALU | Op.RSH | Op.X: r[i->Dst] = (uint)r[i->Dst] >> (int)(r[i->Src] & 31); continue;
                    case Op.ALU | Op.MOD | Op.K: r[i->Dst] = BpfOps.Mod32(r[i->Dst], (ulong)i->Imm); continue;
                    case Op.ALU | Op.MOD | Op.X: r[i->Dst] = BpfOps.Mod32(r[i->Dst], r[i->Src]); continue;
                    case Op.ALU | Op.XOR | Op.K: r[i->Dst] = (uint)r[i->Dst] ^ (uint)(ulong)i->Imm; continue;
                    case Op.ALU | Op.XOR | Op.X: r[i->Dst] = (uint)r[i->Dst] ^ (uint)r[i->Src]; continue;
                    case Op.ALU | Op.MOV | Op.K: r[i->Dst] = (uint)(ulong)i->Imm; continue;
                    case Op.ALU | Op.MOV | Op.X: r[i->Dst] = (uint)r[i->Src]; continue;
                    case Op.ALU | Op.ARSH | Op.K: r[i->Dst] = (uint)((int)r[i->Dst] >> (int)((ulong)i->Imm & 31)); continue;
                    case Op.ALU | Op.ARSH | Op.X: r[i->Dst] = (uint)((int)r[i->Dst] >> (int)(r[i->Src] & 31)); continue;
                    case Op.ALU | Op.NEG: r[i->Dst] = (uint)(0 - (uint)r[i->Dst]); continue;
                    case Op.JMP | Op.JEQ | Op.K: if (r[i->Dst] == (ulong)i->Imm) goto jump; continue;
                    case Op.JMP | Op.JEQ | Op.X: if (r[i->Dst] == r[i->Src]) goto jump; continue;
                    case Op.JMP32 | Op.JEQ | Op.K: if ((uint)r[i->Dst] == (uint)i->Imm) goto jump; continue;
                    case Op.JMP32 | Op.JEQ | Op.X: if ((uint)r[i->Dst] == (uint)r[i->Src]) goto jump; continue;
                    case Op.JMP | Op.JGT | Op.K: if (r[i->Dst] > (ulong)i->Imm) goto jump; continue;
                    case Op.JMP | Op.JGT | Op.X: if (r[i->Dst] > r[i->Src]) goto jump; continue;
                    case Op.JMP32 | Op.JGT | Op.K: if ((uint)r[i->Dst] > (uint)i->Imm) goto jump; continue;
                    case Op.JMP32 | Op.JGT | Op.X: if ((uint)r[i->Dst] > (uint)r[i->Src]) goto jump; continue;
                    case Op.JMP | Op.JGE | Op.K: if (r[i->Dst] >= (ulong)i->Imm) goto jump; continue;
                    case Op.JMP | Op.JGE | Op.X: if (r[i->Dst] >= r[i->Src]) goto jump; continue;
                    case Op.JMP32 | Op.JGE | Op.K: if ((uint)r[i->Dst] >= (uint)i->Imm) goto jump; continue;
                    case Op.JMP32 | Op.JGE | Op.X: if ((uint)r[i->Dst] >= (uint)r[i->Src]) goto jump; continue;
                    case Op.JMP | Op.JSET | Op.K: if ((r[i->Dst] & (ulong)i->Imm) != 0) goto jump; continue;
                    case Op.JMP | Op.JSET | Op.X: if ((r[i->Dst] & r[i->Src]) != 0) goto jump; continue;
                    case Op.JMP32 | Op.JSET | Op.K: if (((uint)r[i->Dst] & (uint)i->Imm) != 0) goto jump; continue;
                    case Op.JMP32 | Op.JSET | Op.X: if (((uint)r[i->Dst] & (uint)r[i->Src]) != 0) goto jump; continue;
                    case Op.JMP | Op.JNE | Op.K: if (r[i->Dst] != (ulong)i->Imm) goto jump; continue;
                    case Op.JMP | Op.JNE | Op.X: if (r[i->Dst] != r[i->Src]) goto jump; continue;
                    case Op.JMP32 | Op.JNE | Op.K: if ((uint)r[i->Dst] != (uint)i->Imm) goto jump; continue;
                    case Op.JMP32 | Op.JNE | Op.X: if ((uint)r[i->Dst] != (uint)r[i->Src]) goto jump; continue;
                    case Op.JMP | Op.JSGT | Op.K: if ((long)r[i->Dst] > (long)(ulong)i->Imm) goto jump; continue;
                    case Op.JMP | Op.JSGT | Op.X: if ((long)r[i->Dst] > (long)r[i->Src]) goto jump; continue;
                    case Op.JMP32 | Op.JSGT | Op.K: if ((int)(uint)r[i->Dst] > (int)(uint)i->Imm) goto jump; continue;
                    case Op.JMP32 | Op.JSGT | Op.X: if ((int)(uint)r[i->Dst] > (int)(uint)r[i->Src]) goto jump; continue;
                    case Op.JMP | Op.JSGE | Op.K: if ((long)r[i->Dst] >= (long)(ulong)i->Imm) goto jump; continue;
                    case Op.JMP | Op.JSGE | Op.X: if ((long)r[i->Dst] >= (long)r[i->Src]) goto jump; continue;
                    case Op.JMP32 | Op.JSGE | Op.K: if ((int)(uint)r[i->Dst] >= (int)(uint)i->Imm) goto jump; continue;
                    case Op.JMP32 | Op.JSGE | Op.X: if ((int)(uint)r[i->Dst] >= (int)(uint)r[i->Src]) goto jump; continue;
                    case Op.JMP | Op.JLT | Op.K: if (r[i->Dst] < (ulong)i->Imm) goto jump; continue;
                    case Op.JMP | Op.JLT | Op.X: if (r[i->Dst] < r[i->Src]) goto jump; continue;
                    case Op.JMP32 | Op.JLT | Op.K: if ((uint)r[i->Dst] < (uint)i->Imm) goto jump; continue;
                    case Op.JMP32 | Op.JLT | Op.X: if ((uint)r[i->Dst] < (uint)r[i->Src]) goto jump; continue;
                    case Op.JMP | Op.JLE | Op.K: if (r[i->Dst] <= (ulong)i->Imm) goto jump; continue;
                    case Op.JMP | Op.JLE | Op.X: if (r[i->Dst] <= r[i->Src]) goto jump; continue;
                    case Op.JMP32 | Op.JLE | Op.K: if ((uint)r[i->Dst] <= (uint)i->Imm) goto jump; continue;
                    case Op.JMP32 | Op.JLE | Op.X: if ((uint)r[i->Dst] <= (uint)r[i->Src]) goto jump; continue;
                    case Op.JMP | Op.JSLT | Op.K: if ((long)r[i->Dst] < (long)(ulong)i->Imm) goto jump; continue;
                    case Op.JMP | Op.JSLT | Op.X: if ((long)r[i->Dst] < (long)r[i->Src]) goto jump; continue;
                    case Op.JMP32 | Op.JSLT | Op.K: if ((int)(uint)r[i->Dst] < (int)(uint)i->Imm) goto jump; continue;
                    case Op.JMP32 | Op.JSLT | Op.X: if ((int)(uint)r[i->Dst] < (int)(uint)r[i->Src]) goto jump; continue;
                    case Op.JMP | Op.JSLE | Op.K: if ((long)r[i->Dst] <= (long)(ulong)i->Imm) goto jump; continue;
                    case Op.JMP | Op.JSLE | Op.X: if ((long)r[i->Dst] <= (long)r[i->Src]) goto jump; continue;
                    case Op.JMP32 | Op.JSLE | Op.K: if ((int)(uint)r[i->Dst] <= (int)(uint)i->Imm) goto jump; continue;
                    case Op.JMP32 | Op.JSLE | Op.X: if ((int)(uint)r[i->Dst] <= (int)(uint)r[i->Src]) goto jump; continue;
                    // ---- v4 variants resolved at decode time ----
                    case IOp.SDIV64K: r[i->Dst] = BpfOps.SDiv64(r[i->Dst], (ulong)i->Imm); continue;
                    case IOp.SDIV64X: r[i->Dst] = BpfOps.SDiv64(r[i->Dst], r[i->Src]); continue;
                    case IOp.SMOD64K: r[i->Dst] = BpfOps.SMod64(r[i->Dst], (ulong)i->Imm); continue;
                    case IOp.SMOD64X: r[i->Dst] = BpfOps.SMod64(r[i->Dst], r[i->Src]); continue;
                    case IOp.SDIV32K: r[i->Dst] = BpfOps.SDiv32(r[i->Dst], (ulong)i->Imm); continue;
                    case IOp.SDIV32X: r[i->Dst] = BpfOps.SDiv32(r[i->Dst], r[i->Src]); continue;
                    case IOp.SMOD32K: r[i->Dst] = BpfOps.SMod32(r[i->Dst], (ulong)i->Imm); continue;
                    case IOp.SMOD32X: r[i->Dst] = BpfOps.SMod32(r[i->Dst], r[i->Src]); continue;
                    case IOp.MOVSX64_8: r[i->Dst] = (ulong)(long)(sbyte)r[i->Src]; continue;
                    case IOp.MOVSX64_16: r[i->Dst] = (ulong)(long)(short)r[i->Src]; continue;
                    case IOp.MOVSX64_32: r[i->Dst] = (ulong)(long)(int)r[i->Src]; continue;
                    case IOp.MOVSX32_8: r[i->Dst] = (uint)(int)(sbyte)r[i->Src]; continue;
                    case IOp.MOVSX32_16: r[i->Dst] = (uint)(int)(short)r[i->Src]; continue;
                    case IOp.LE16: r[i->Dst] = (ushort)r[i->Dst]; continue;
                    case IOp.LE32: r[i->Dst] = (uint)r[i->Dst]; continue;
                    case IOp.NOP: continue;
                    case IOp.BSWAP16: r[i->Dst] = BpfOps.Bswap16(r[i->Dst]); continue;
                    case IOp.BSWAP32: r[i->Dst] = BpfOps.Bswap32(r[i->Dst]); continue;
                    case IOp.BSWAP64: r[i->Dst] = BpfOps.Bswap64(r[i->Dst]); continue;

                    // ---- jumps ----
                    case Op.JMP | Op.JA: goto jump;
                    case Op.JMP32 | Op.JA: // gotol: JMP32 JA, offset in imm
                        if (i->Imm < 0 && count > _budget) throw LimitFault((int)(i - CodePtr), count, MaxInstructions);
                        i += (int)i->Imm;
                        continue;

                    // ---- ld_imm64 (resolved) and legacy packet loads ----
                    case Op.LDDW: r[i->Dst] = (ulong)i->Imm; i++; continue;
                    case Op.LD | Op.ABS | Op.W: case Op.LD | Op.ABS | Op.H: case Op.LD | Op.ABS | Op.B: case Op.LD | Op.IND | Op.W: case Op.LD | Op.IND | Op.H: case Op.LD | Op.IND | Op.B:
                    {
                        int size = Op.SizeBytes(i->Op);
                        long off = (i->Op & Op.IND) != 0 ? (int)((uint)r[i->Src] + (uint)i->Imm) : (int)i->Imm;
                        if (!BpfOps.LoadPacket(Ctx.Ptr, _ctxLen, off, size, out ulong v)) { _interpCount = count; return 0; }
                        r[0] = v;
                        continue;
                    }

                    // ---- loads: the stack, then the context, then every other region ----
                    case Op.LDX | Op.MEM | Op.W:
                    {
                        ulong a = r[i->Src] + (ulong)i->Off, o = a - StackBase, v;
                        if (o <= TotalStack - 4) v = *(uint*)(StackPtr + o);
                        else if ((o = a - Ctx.Addr) < Ctx.R4) v = *(uint*)(Ctx.Ptr + o);
                        else v = LoadSlow(a, 4, (int)(i - CodePtr), count);
                        r[i->Dst] = v;
                        continue;
                    }
                    case Op.LDX | Op.MEM | Op.H:
                    {
                        ulong a = r[i->Src] + (ulong)i->Off, o = a - StackBase, v;
                        if (o <= TotalStack - 2) v = *(ushort*)(StackPtr + o);
                        else if ((o = a - Ctx.Addr) < Ctx.R2) v = *(ushort*)(Ctx.Ptr + o);
                        else v = LoadSlow(a, 2, (int)(i - CodePtr), count);
                        r[i->Dst] = v;
                        continue;
                    }
                    case Op.LDX | Op.MEM | Op.B:
                    {
                        ulong a = r[i->Src] + (ulong)i->Off, o = a - StackBase, v;
                        if (o <= TotalStack - 1) v = *(byte*)(StackPtr + o);
                        else if ((o = a - Ctx.Addr) < Ctx.R1) v = *(byte*)(Ctx.Ptr + o);
                        else v = LoadSlow(a, 1, (int)(i - CodePtr), count);
                        r[i->Dst] = v;
                        continue;
                    }
                    case Op.LDX | Op.MEM | Op.DW:
                    {
                        ulong a = r[i->Src] + (ulong)i->Off, o = a - StackBase, v;
                        if (o <= TotalStack - 8) v = *(ulong*)(StackPtr + o);
                        else if ((o = a - Ctx.Addr) < Ctx.R8) v = *(ulong*)(Ctx.Ptr + o);
                        else v = LoadSlow(a, 8, (int)(i - CodePtr), count);
                        r[i->Dst] = v;
                        continue;
                    }
                    case Op.LDX | Op.MEMSX | Op.W:
                    {
                        ulong a = r[i->Src] + (ulong)i->Off, o = a - StackBase, v;
                        if (o <= TotalStack - 4) v = *(uint*)(StackPtr + o);
                        else if ((o = a - Ctx.Addr) < Ctx.R4) v = *(uint*)(Ctx.Ptr + o);
                        else v = LoadSlow(a, 4, (int)(i - CodePtr), count);
                        r[i->Dst] = (ulong)(long)(int)(v);
                        continue;
                    }
                    case Op.LDX | Op.MEMSX | Op.H:
                    {
                        ulong a = r[i->Src] + (ulong)i->Off, o = a - StackBase, v;
                        if (o <= TotalStack - 2) v = *(ushort*)(StackPtr + o);
                        else if ((o = a - Ctx.Addr) < Ctx.R2) v = *(ushort*)(Ctx.Ptr + o);
                        else v = LoadSlow(a, 2, (int)(i - CodePtr), count);
                        r[i->Dst] = (ulong)(long)(short)(v);
                        continue;
                    }
                    case Op.LDX | Op.MEMSX | Op.B:
                    {
                        ulong a = r[i->Src] + (ulong)i->Off, o = a - StackBase, v;
                        if (o <= TotalStack - 1) v = *(byte*)(StackPtr + o);
                        else if ((o = a - Ctx.Addr) < Ctx.R1) v = *(byte*)(Ctx.Ptr + o);
                        else v = LoadSlow(a, 1, (int)(i - CodePtr), count);
                        r[i->Dst] = (ulong)(long)(sbyte)(v);
                        continue;
                    }

                    // ---- stores: the same order; a borrowed context (W = 0) takes the slow path, which copies it ----
                    case Op.ST | Op.MEM | Op.W:
                    {
                        ulong a = r[i->Dst] + (ulong)i->Off, o = a - StackBase, v = (ulong)i->Imm;
                        if (o <= TotalStack - 4) *(uint*)(StackPtr + o) = (uint)v;
                        else if ((o = a - Ctx.Addr) < Ctx.W4) *(uint*)(Ctx.Ptr + o) = (uint)v;
                        else StoreSlow(a, 4, v, (int)(i - CodePtr), count);
                        continue;
                    }
                    case Op.ST | Op.MEM | Op.H:
                    {
                        ulong a = r[i->Dst] + (ulong)i->Off, o = a - StackBase, v = (ulong)i->Imm;
                        if (o <= TotalStack - 2) *(ushort*)(StackPtr + o) = (ushort)v;
                        else if ((o = a - Ctx.Addr) < Ctx.W2) *(ushort*)(Ctx.Ptr + o) = (ushort)v;
                        else StoreSlow(a, 2, v, (int)(i - CodePtr), count);
                        continue;
                    }
                    case Op.ST | Op.MEM | Op.B:
                    {
                        ulong a = r[i->Dst] + (ulong)i->Off, o = a - StackBase, v = (ulong)i->Imm;
                        if (o <= TotalStack - 1) *(byte*)(StackPtr + o) = (byte)v;
                        else if ((o = a - Ctx.Addr) < Ctx.W1) *(byte*)(Ctx.Ptr + o) = (byte)v;
                        else StoreSlow(a, 1, v, (int)(i - CodePtr), count);
                        continue;
                    }
                    case Op.ST | Op.MEM | Op.DW:
                    {
                        ulong a = r[i->Dst] + (ulong)i->Off, o = a - StackBase, v = (ulong)i->Imm;
                        if (o <= TotalStack - 8) *(ulong*)(StackPtr + o) = (ulong)v;
                        else if ((o = a - Ctx.Addr) < Ctx.W8) *(ulong*)(Ctx.Ptr + o) = (ulong)v;
                        else StoreSlow(a, 8, v, (int)(i - CodePtr), count);
                        continue;
                    }
                    case Op.STX | Op.MEM | Op.W:
                    {
                        ulong a = r[i->Dst] + (ulong)i->Off, o = a - StackBase, v = r[i->Src];
                        if (o <= TotalStack - 4) *(uint*)(StackPtr + o) = (uint)v;
                        else if ((o = a - Ctx.Addr) < Ctx.W4) *(uint*)(Ctx.Ptr + o) = (uint)v;
                        else StoreSlow(a, 4, v, (int)(i - CodePtr), count);
                        continue;
                    }
                    case Op.STX | Op.MEM | Op.H:
                    {
                        ulong a = r[i->Dst] + (ulong)i->Off, o = a - StackBase, v = r[i->Src];
                        if (o <= TotalStack - 2) *(ushort*)(StackPtr + o) = (ushort)v;
                        else if ((o = a - Ctx.Addr) < Ctx.W2) *(ushort*)(Ctx.Ptr + o) = (ushort)v;
                        else StoreSlow(a, 2, v, (int)(i - CodePtr), count);
                        continue;
                    }
                    case Op.STX | Op.MEM | Op.B:
                    {
                        ulong a = r[i->Dst] + (ulong)i->Off, o = a - StackBase, v = r[i->Src];
                        if (o <= TotalStack - 1) *(byte*)(StackPtr + o) = (byte)v;
                        else if ((o = a - Ctx.Addr) < Ctx.W1) *(byte*)(Ctx.Ptr + o) = (byte)v;
                        else StoreSlow(a, 1, v, (int)(i - CodePtr), count);
                        continue;
                    }
                    case Op.STX | Op.MEM | Op.DW:
                    {
                        ulong a = r[i->Dst] + (ulong)i->Off, o = a - StackBase, v = r[i->Src];
                        if (o <= TotalStack - 8) *(ulong*)(StackPtr + o) = (ulong)v;
                        else if ((o = a - Ctx.Addr) < Ctx.W8) *(ulong*)(Ctx.Ptr + o) = (ulong)v;
                        else StoreSlow(a, 8, v, (int)(i - CodePtr), count);
                        continue;
                    }

                    // ---- atomics ----
                    case Op.STX | Op.ATOMIC | Op.W:
                    case Op.STX | Op.ATOMIC | Op.DW:
                    {
                        int size = i->Op == (Op.STX | Op.ATOMIC | Op.DW) ? 8 : 4;
                        byte* p = AtomicPtr(r[i->Dst] + (ulong)i->Off, size, (int)(i - CodePtr), count);
                        BpfOps.Atomic(p, size, (int)i->Imm, ref r[i->Src], ref r[0]);
                        continue;
                    }

                    // ---- calls and exit ----
                    case Op.JMP | Op.CALL:
                        r[0] = CallHelper((int)i->Imm, r[1], r[2], r[3], r[4], r[5], (int)(i - CodePtr), count);
                        continue;
                    case IOp.CALL_LOCAL:
                    {
                        if (r[11] >= MaxFrames - 1) throw DepthFault((int)(i - CodePtr), count);
                        ulong* f = FrameRecords + r[11] * 6;
                        f[0] = (ulong)(i + 1); f[1] = r[6]; f[2] = r[7]; f[3] = r[8]; f[4] = r[9]; f[5] = r[10];
                        r[11]++;
                        r[10] -= StackSize;
                        i += (int)i->Imm;
                        if (count > _budget) throw LimitFault((int)(i + 1 - CodePtr), count, MaxInstructions);
                        continue;
                    }
                    case Op.JMP | Op.CALL | Op.X: // callx: target in dst
                    {
                        ulong t = r[i->Dst];
                        if (t - CodeBase < (ulong)Code.Length * 8 && (t & 7) == 0)
                        {
                            if (r[11] >= MaxFrames - 1) throw DepthFault((int)(i - CodePtr), count);
                            ulong* f = FrameRecords + r[11] * 6;
                            f[0] = (ulong)(i + 1); f[1] = r[6]; f[2] = r[7]; f[3] = r[8]; f[4] = r[9]; f[5] = r[10];
                            r[11]++;
                            r[10] -= StackSize;
                            int target = (int)((t - CodeBase) / 8);
                            if (count > _budget) throw LimitFault(target, count, MaxInstructions);
                            i = CodePtr + target - 1;
                            continue;
                        }
                        if (IsHelper(t))
                        {
                            r[0] = CallHelper((int)t, r[1], r[2], r[3], r[4], r[5], (int)(i - CodePtr), count);
                            continue;
                        }
                        throw CallxFault((int)(i - CodePtr), count, t);
                    }
                    case Op.JMP | Op.EXIT:
                    {
                        if (r[11] == r[12]) { _interpCount = count; return r[0]; }
                        r[11]--;
                        ulong* f = FrameRecords + r[11] * 6;
                        i = (DecodedInsn*)f[0] - 1; r[6] = f[1]; r[7] = f[2]; r[8] = f[3]; r[9] = f[4]; r[10] = f[5];
                        continue;
                    }
                    default:
                        // bpf_loop (IOp.CALL_LOOP) is handled here, not as a case of its own: one more
                        // case made the JIT compile this method markedly slower (every program's runs);
                        // count stays as it is, the callbacks' instructions lower _budget (BpfVmLoop)
                        if (i->Op == IOp.CALL_LOOP)
                        {
                            r[0] = CallLoop(r[1], r[2], r[3], r[4], r[10], (int)(i - CodePtr), count);
                            continue;
                        }
                        // bpf_tail_call (BpfVmTail): the target ran in place of this frame, which exits with its r0
                        if (TMode.TailCalls && i->Op == IOp.CALL_TAIL)
                        {
                            ulong t0 = TailCall(r[1], r[2], r[3], (int)(i - CodePtr), count);
                            if (!_tail.Ran) continue;
                            r[0] = t0;
                            goto case Op.JMP | Op.EXIT;
                        }
                        throw InvalidOpcodeFault((int)(i - CodePtr), i->Op, count);
                }
            jump:
                if (i->Off < 0 && count > _budget) throw LimitFault((int)(i - CodePtr), count, MaxInstructions);
                i += i->Off;
            }
        }
    }
}
