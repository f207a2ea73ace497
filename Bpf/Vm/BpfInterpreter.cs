using System.Runtime.CompilerServices;
using BpfTraceSim.Bpf.Isa;

namespace BpfTraceSim.Bpf.Vm;

public sealed unsafe partial class BpfVm
{
    /// <summary>The interpreter: one loop over one switch on pre-decoded instructions.</summary>
    [SkipLocalsInit]
    private ulong Interpret(ulong r1, ulong r2, ref ulong countOut)
    {
        ulong* r = stackalloc ulong[16];
        ulong* frames = stackalloc ulong[MaxFrames * 6];
        for (int k = 0; k < 16; k++) r[k] = 0;
        r[1] = r1;
        r[2] = r2;
        r[10] = FramePointer;
        DecodedInsn* code = CodePtr;
        byte* stack = StackPtr;
        ulong stackBase = StackBase;
        ulong max = MaxInstructions;
        ulong count = 0;
        int depth = 0;
        int pc = 0;
        DecodedInsn* i;
        // No try/finally here: every fault carries the count, so `count` can live in a register.
        {
            while (true)
            {
                i = code + pc;
                count++;
                pc++;
                switch (i->Op)
                {
                    case 0x07: r[i->Dst] += (ulong)i->Imm; continue; // ALU64 ADD K
                    case 0x0f: r[i->Dst] += r[i->Src]; continue; // ALU64 ADD X
                    case 0x17: r[i->Dst] -= (ulong)i->Imm; continue; // ALU64 SUB K
                    case 0x1f: r[i->Dst] -= r[i->Src]; continue; // ALU64 SUB X
                    case 0x27: r[i->Dst] *= (ulong)i->Imm; continue; // ALU64 MUL K
                    case 0x2f: r[i->Dst] *= r[i->Src]; continue; // ALU64 MUL X
                    case 0x37: r[i->Dst] = BpfOps.Div64(r[i->Dst], (ulong)i->Imm); continue; // ALU64 DIV K
                    case 0x3f: r[i->Dst] = BpfOps.Div64(r[i->Dst], r[i->Src]); continue; // ALU64 DIV X
                    case 0x47: r[i->Dst] |= (ulong)i->Imm; continue; // ALU64 OR K
                    case 0x4f: r[i->Dst] |= r[i->Src]; continue; // ALU64 OR X
                    case 0x57: r[i->Dst] &= (ulong)i->Imm; continue; // ALU64 AND K
                    case 0x5f: r[i->Dst] &= r[i->Src]; continue; // ALU64 AND X
                    case 0x67: r[i->Dst] <<= (int)((ulong)i->Imm & 63); continue; // ALU64 LSH K
                    case 0x6f: r[i->Dst] <<= (int)(r[i->Src] & 63); continue; // ALU64 LSH X
                    case 0x77: r[i->Dst] >>= (int)((ulong)i->Imm & 63); continue; // ALU64 RSH K
                    case 0x7f: r[i->Dst] >>= (int)(r[i->Src] & 63); continue; // ALU64 RSH X
                    case 0x97: r[i->Dst] = BpfOps.Mod64(r[i->Dst], (ulong)i->Imm); continue; // ALU64 MOD K
                    case 0x9f: r[i->Dst] = BpfOps.Mod64(r[i->Dst], r[i->Src]); continue; // ALU64 MOD X
                    case 0xa7: r[i->Dst] ^= (ulong)i->Imm; continue; // ALU64 XOR K
                    case 0xaf: r[i->Dst] ^= r[i->Src]; continue; // ALU64 XOR X
                    case 0xb7: r[i->Dst] = (ulong)i->Imm; continue; // ALU64 MOV K
                    case 0xbf: r[i->Dst] = r[i->Src]; continue; // ALU64 MOV X
                    case 0xc7: r[i->Dst] = (ulong)((long)r[i->Dst] >> (int)((ulong)i->Imm & 63)); continue; // ALU64 ARSH K
                    case 0xcf: r[i->Dst] = (ulong)((long)r[i->Dst] >> (int)(r[i->Src] & 63)); continue; // ALU64 ARSH X
                    case 0x87: r[i->Dst] = 0 - r[i->Dst]; continue; // ALU64 NEG
                    case 0x04: r[i->Dst] = (uint)((uint)r[i->Dst] + (uint)(ulong)i->Imm); continue; // ALU ADD K
                    case 0x0c: r[i->Dst] = (uint)((uint)r[i->Dst] + (uint)r[i->Src]); continue; // ALU ADD X
                    case 0x14: r[i->Dst] = (uint)((uint)r[i->Dst] - (uint)(ulong)i->Imm); continue; // ALU SUB K
                    case 0x1c: r[i->Dst] = (uint)((uint)r[i->Dst] - (uint)r[i->Src]); continue; // ALU SUB X
                    case 0x24: r[i->Dst] = (uint)((uint)r[i->Dst] * (uint)(ulong)i->Imm); continue; // ALU MUL K
                    case 0x2c: r[i->Dst] = (uint)((uint)r[i->Dst] * (uint)r[i->Src]); continue; // ALU MUL X
                    case 0x34: r[i->Dst] = BpfOps.Div32(r[i->Dst], (ulong)i->Imm); continue; // ALU DIV K
                    case 0x3c: r[i->Dst] = BpfOps.Div32(r[i->Dst], r[i->Src]); continue; // ALU DIV X
                    case 0x44: r[i->Dst] = (uint)r[i->Dst] | (uint)(ulong)i->Imm; continue; // ALU OR K
                    case 0x4c: r[i->Dst] = (uint)r[i->Dst] | (uint)r[i->Src]; continue; // ALU OR X
                    case 0x54: r[i->Dst] = (uint)r[i->Dst] & (uint)(ulong)i->Imm; continue; // ALU AND K
                    case 0x5c: r[i->Dst] = (uint)r[i->Dst] & (uint)r[i->Src]; continue; // ALU AND X
                    case 0x64: r[i->Dst] = (uint)r[i->Dst] << (int)((ulong)i->Imm & 31); continue; // ALU LSH K
                    case 0x6c: r[i->Dst] = (uint)r[i->Dst] << (int)(r[i->Src] & 31); continue; // ALU LSH X
                    case 0x74: r[i->Dst] = (uint)r[i->Dst] >> (int)((ulong)i->Imm & 31); continue; // ALU RSH K
                    case 0x7c: r[i->Dst] = (uint)r[i->Dst] >> (int)(r[i->Src] & 31); continue; // ALU RSH X
                    case 0x94: r[i->Dst] = BpfOps.Mod32(r[i->Dst], (ulong)i->Imm); continue; // ALU MOD K
                    case 0x9c: r[i->Dst] = BpfOps.Mod32(r[i->Dst], r[i->Src]); continue; // ALU MOD X
                    case 0xa4: r[i->Dst] = (uint)r[i->Dst] ^ (uint)(ulong)i->Imm; continue; // ALU XOR K
                    case 0xac: r[i->Dst] = (uint)r[i->Dst] ^ (uint)r[i->Src]; continue; // ALU XOR X
                    case 0xb4: r[i->Dst] = (uint)(ulong)i->Imm; continue; // ALU MOV K
                    case 0xbc: r[i->Dst] = (uint)r[i->Src]; continue; // ALU MOV X
                    case 0xc4: r[i->Dst] = (uint)((int)r[i->Dst] >> (int)((ulong)i->Imm & 31)); continue; // ALU ARSH K
                    case 0xcc: r[i->Dst] = (uint)((int)r[i->Dst] >> (int)(r[i->Src] & 31)); continue; // ALU ARSH X
                    case 0x84: r[i->Dst] = (uint)(0 - (uint)r[i->Dst]); continue; // ALU NEG
                    case 0x15: if (r[i->Dst] == (ulong)i->Imm) goto jump; continue; // JEQ K
                    case 0x1d: if (r[i->Dst] == r[i->Src]) goto jump; continue; // JEQ X
                    case 0x16: if ((uint)r[i->Dst] == (uint)i->Imm) goto jump; continue; // JMP32 JEQ K
                    case 0x1e: if ((uint)r[i->Dst] == (uint)r[i->Src]) goto jump; continue; // JMP32 JEQ X
                    case 0x25: if (r[i->Dst] > (ulong)i->Imm) goto jump; continue; // JGT K
                    case 0x2d: if (r[i->Dst] > r[i->Src]) goto jump; continue; // JGT X
                    case 0x26: if ((uint)r[i->Dst] > (uint)i->Imm) goto jump; continue; // JMP32 JGT K
                    case 0x2e: if ((uint)r[i->Dst] > (uint)r[i->Src]) goto jump; continue; // JMP32 JGT X
                    case 0x35: if (r[i->Dst] >= (ulong)i->Imm) goto jump; continue; // JGE K
                    case 0x3d: if (r[i->Dst] >= r[i->Src]) goto jump; continue; // JGE X
                    case 0x36: if ((uint)r[i->Dst] >= (uint)i->Imm) goto jump; continue; // JMP32 JGE K
                    case 0x3e: if ((uint)r[i->Dst] >= (uint)r[i->Src]) goto jump; continue; // JMP32 JGE X
                    case 0x45: if ((r[i->Dst] & (ulong)i->Imm) != 0) goto jump; continue; // JSET K
                    case 0x4d: if ((r[i->Dst] & r[i->Src]) != 0) goto jump; continue; // JSET X
                    case 0x46: if (((uint)r[i->Dst] & (uint)i->Imm) != 0) goto jump; continue; // JMP32 JSET K
                    case 0x4e: if (((uint)r[i->Dst] & (uint)r[i->Src]) != 0) goto jump; continue; // JMP32 JSET X
                    case 0x55: if (r[i->Dst] != (ulong)i->Imm) goto jump; continue; // JNE K
                    case 0x5d: if (r[i->Dst] != r[i->Src]) goto jump; continue; // JNE X
                    case 0x56: if ((uint)r[i->Dst] != (uint)i->Imm) goto jump; continue; // JMP32 JNE K
                    case 0x5e: if ((uint)r[i->Dst] != (uint)r[i->Src]) goto jump; continue; // JMP32 JNE X
                    case 0x65: if ((long)r[i->Dst] > (long)(ulong)i->Imm) goto jump; continue; // JSGT K
                    case 0x6d: if ((long)r[i->Dst] > (long)r[i->Src]) goto jump; continue; // JSGT X
                    case 0x66: if ((int)(uint)r[i->Dst] > (int)(uint)i->Imm) goto jump; continue; // JMP32 JSGT K
                    case 0x6e: if ((int)(uint)r[i->Dst] > (int)(uint)r[i->Src]) goto jump; continue; // JMP32 JSGT X
                    case 0x75: if ((long)r[i->Dst] >= (long)(ulong)i->Imm) goto jump; continue; // JSGE K
                    case 0x7d: if ((long)r[i->Dst] >= (long)r[i->Src]) goto jump; continue; // JSGE X
                    case 0x76: if ((int)(uint)r[i->Dst] >= (int)(uint)i->Imm) goto jump; continue; // JMP32 JSGE K
                    case 0x7e: if ((int)(uint)r[i->Dst] >= (int)(uint)r[i->Src]) goto jump; continue; // JMP32 JSGE X
                    case 0xa5: if (r[i->Dst] < (ulong)i->Imm) goto jump; continue; // JLT K
                    case 0xad: if (r[i->Dst] < r[i->Src]) goto jump; continue; // JLT X
                    case 0xa6: if ((uint)r[i->Dst] < (uint)i->Imm) goto jump; continue; // JMP32 JLT K
                    case 0xae: if ((uint)r[i->Dst] < (uint)r[i->Src]) goto jump; continue; // JMP32 JLT X
                    case 0xb5: if (r[i->Dst] <= (ulong)i->Imm) goto jump; continue; // JLE K
                    case 0xbd: if (r[i->Dst] <= r[i->Src]) goto jump; continue; // JLE X
                    case 0xb6: if ((uint)r[i->Dst] <= (uint)i->Imm) goto jump; continue; // JMP32 JLE K
                    case 0xbe: if ((uint)r[i->Dst] <= (uint)r[i->Src]) goto jump; continue; // JMP32 JLE X
                    case 0xc5: if ((long)r[i->Dst] < (long)(ulong)i->Imm) goto jump; continue; // JSLT K
                    case 0xcd: if ((long)r[i->Dst] < (long)r[i->Src]) goto jump; continue; // JSLT X
                    case 0xc6: if ((int)(uint)r[i->Dst] < (int)(uint)i->Imm) goto jump; continue; // JMP32 JSLT K
                    case 0xce: if ((int)(uint)r[i->Dst] < (int)(uint)r[i->Src]) goto jump; continue; // JMP32 JSLT X
                    case 0xd5: if ((long)r[i->Dst] <= (long)(ulong)i->Imm) goto jump; continue; // JSLE K
                    case 0xdd: if ((long)r[i->Dst] <= (long)r[i->Src]) goto jump; continue; // JSLE X
                    case 0xd6: if ((int)(uint)r[i->Dst] <= (int)(uint)i->Imm) goto jump; continue; // JMP32 JSLE K
                    case 0xde: if ((int)(uint)r[i->Dst] <= (int)(uint)r[i->Src]) goto jump; continue; // JMP32 JSLE X
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
                    case 0x05: goto jump; // JA
                    case 0x06: // gotol: JMP32 JA, offset in imm
                        pc += (int)i->Imm;
                        if (i->Imm < 0 && count > max) throw LimitFault(pc - 1 - (int)i->Imm, count, max);
                        continue;

                    // ---- ld_imm64 (resolved) and legacy packet loads ----
                    case 0x18: r[i->Dst] = (ulong)i->Imm; pc++; continue;
                    case 0x20: case 0x28: case 0x30: case 0x40: case 0x48: case 0x50:
                    {
                        int size = Op.SizeBytes(i->Op);
                        long off = (i->Op & Op.IND) != 0 ? (int)((uint)r[i->Src] + (uint)i->Imm) : (int)i->Imm;
                        if (!BpfOps.LoadPacket(_ctxPtr, _ctxLen, off, size, out ulong v)) { countOut = count; return 0; }
                        r[0] = v;
                        continue;
                    }

                    // ---- loads ----
                    case 0x61: { ulong a = r[i->Src] + (ulong)i->Off; ulong o = a - stackBase; r[i->Dst] = o <= TotalStack - 4 ? *(uint*)(stack + o) : LoadSlow(a, 4, pc - 1, count); continue; }
                    case 0x69: { ulong a = r[i->Src] + (ulong)i->Off; ulong o = a - stackBase; r[i->Dst] = o <= TotalStack - 2 ? *(ushort*)(stack + o) : LoadSlow(a, 2, pc - 1, count); continue; }
                    case 0x71: { ulong a = r[i->Src] + (ulong)i->Off; ulong o = a - stackBase; r[i->Dst] = o <= TotalStack - 1 ? *(stack + o) : LoadSlow(a, 1, pc - 1, count); continue; }
                    case 0x79: { ulong a = r[i->Src] + (ulong)i->Off; ulong o = a - stackBase; r[i->Dst] = o <= TotalStack - 8 ? *(ulong*)(stack + o) : LoadSlow(a, 8, pc - 1, count); continue; }
                    case 0x81: { ulong a = r[i->Src] + (ulong)i->Off; ulong o = a - stackBase; r[i->Dst] = (ulong)(long)(int)(o <= TotalStack - 4 ? *(uint*)(stack + o) : LoadSlow(a, 4, pc - 1, count)); continue; }
                    case 0x89: { ulong a = r[i->Src] + (ulong)i->Off; ulong o = a - stackBase; r[i->Dst] = (ulong)(long)(short)(o <= TotalStack - 2 ? *(ushort*)(stack + o) : LoadSlow(a, 2, pc - 1, count)); continue; }
                    case 0x91: { ulong a = r[i->Src] + (ulong)i->Off; ulong o = a - stackBase; r[i->Dst] = (ulong)(long)(sbyte)(o <= TotalStack - 1 ? *(stack + o) : LoadSlow(a, 1, pc - 1, count)); continue; }

                    // ---- stores ----
                    case 0x62: { ulong a = r[i->Dst] + (ulong)i->Off; ulong o = a - stackBase; if (o <= TotalStack - 4) *(uint*)(stack + o) = (uint)i->Imm; else StoreSlow(a, 4, (ulong)i->Imm, pc - 1, count); continue; }
                    case 0x6a: { ulong a = r[i->Dst] + (ulong)i->Off; ulong o = a - stackBase; if (o <= TotalStack - 2) *(ushort*)(stack + o) = (ushort)i->Imm; else StoreSlow(a, 2, (ulong)i->Imm, pc - 1, count); continue; }
                    case 0x72: { ulong a = r[i->Dst] + (ulong)i->Off; ulong o = a - stackBase; if (o <= TotalStack - 1) *(stack + o) = (byte)i->Imm; else StoreSlow(a, 1, (ulong)i->Imm, pc - 1, count); continue; }
                    case 0x7a: { ulong a = r[i->Dst] + (ulong)i->Off; ulong o = a - stackBase; if (o <= TotalStack - 8) *(ulong*)(stack + o) = (ulong)i->Imm; else StoreSlow(a, 8, (ulong)i->Imm, pc - 1, count); continue; }
                    case 0x63: { ulong a = r[i->Dst] + (ulong)i->Off; ulong o = a - stackBase; if (o <= TotalStack - 4) *(uint*)(stack + o) = (uint)r[i->Src]; else StoreSlow(a, 4, r[i->Src], pc - 1, count); continue; }
                    case 0x6b: { ulong a = r[i->Dst] + (ulong)i->Off; ulong o = a - stackBase; if (o <= TotalStack - 2) *(ushort*)(stack + o) = (ushort)r[i->Src]; else StoreSlow(a, 2, r[i->Src], pc - 1, count); continue; }
                    case 0x73: { ulong a = r[i->Dst] + (ulong)i->Off; ulong o = a - stackBase; if (o <= TotalStack - 1) *(stack + o) = (byte)r[i->Src]; else StoreSlow(a, 1, r[i->Src], pc - 1, count); continue; }
                    case 0x7b: { ulong a = r[i->Dst] + (ulong)i->Off; ulong o = a - stackBase; if (o <= TotalStack - 8) *(ulong*)(stack + o) = r[i->Src]; else StoreSlow(a, 8, r[i->Src], pc - 1, count); continue; }

                    // ---- atomics ----
                    case 0xc3:
                    case 0xdb:
                    {
                        int size = i->Op == 0xdb ? 8 : 4;
                        byte* p = AtomicPtr(r[i->Dst] + (ulong)i->Off, size, pc - 1, count);
                        BpfOps.Atomic(p, size, (int)i->Imm, ref r[i->Src], ref r[0]);
                        continue;
                    }

                    // ---- calls and exit ----
                    case 0x85:
                        r[0] = CallHelper((int)i->Imm, r[1], r[2], r[3], r[4], r[5], pc - 1, count);
                        continue;
                    case IOp.CALL_LOCAL:
                    {
                        if (depth >= MaxFrames - 1) throw DepthFault(pc - 1, count);
                        ulong* f = frames + depth * 6;
                        f[0] = (ulong)pc; f[1] = r[6]; f[2] = r[7]; f[3] = r[8]; f[4] = r[9]; f[5] = r[10];
                        depth++;
                        r[10] -= StackSize;
                        pc += (int)i->Imm;
                        if (count > max) throw LimitFault(pc, count, max);
                        continue;
                    }
                    case 0x8d: // callx: target in dst
                    {
                        ulong t = r[i->Dst];
                        if (t - CodeBase < (ulong)Code.Length * 8 && (t & 7) == 0)
                        {
                            if (depth >= MaxFrames - 1) throw DepthFault(pc - 1, count);
                            ulong* f = frames + depth * 6;
                            f[0] = (ulong)pc; f[1] = r[6]; f[2] = r[7]; f[3] = r[8]; f[4] = r[9]; f[5] = r[10];
                            depth++;
                            r[10] -= StackSize;
                            pc = (int)((t - CodeBase) / 8);
                            if (count > max) throw LimitFault(pc, count, max);
                            continue;
                        }
                        if (IsHelper(t))
                        {
                            r[0] = CallHelper((int)t, r[1], r[2], r[3], r[4], r[5], pc - 1, count);
                            continue;
                        }
                        throw CallxFault(pc - 1, count, t);
                    }
                    case 0x95:
                    {
                        if (depth == 0) { countOut = count; return r[0]; }
                        depth--;
                        ulong* f = frames + depth * 6;
                        pc = (int)f[0]; r[6] = f[1]; r[7] = f[2]; r[8] = f[3]; r[9] = f[4]; r[10] = f[5];
                        continue;
                    }
                    default:
                        throw new BpfFaultException($"invalid opcode 0x{i->Op:x2}", pc - 1) { Count = count };
                }
            jump:
                pc += i->Off;
                if (i->Off < 0 && count > max) throw LimitFault(pc - 1 - i->Off, count, max);
            }
        }
    }
}
