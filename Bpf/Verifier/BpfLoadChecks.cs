using BpfTraceSim.Kernel;
using BpfTraceSim.Bpf.Helpers;
using BpfTraceSim.Bpf.Isa;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;

namespace BpfTraceSim.Bpf.Verifier;

/// <summary>
/// What the simulator checks when a program is prepared for a VM, as the kernel's verifier would
/// refuse it at load: invalid or reserved encodings, writes to r10, jumps out of the program or into
/// the second slot of ld_imm64, unknown helpers for the program type, map references, and the
/// argument rules the tracing helpers rely on (constant-bounded sizes, snprintf's read-only format).
/// It is not a full verifier: run-time faults cover the rest.
/// </summary>
internal static class BpfLoadChecks
{
    public static void Decode(BpfProgram prog, BpfInstance inst, IBpfHelperHost host, DecodedInsn[] code, BpfHelperFn?[] helperFns)
    {
        var insns = prog.Insns;
        int n = insns.Length;
        if (n == 0) throw Err(prog, 0, "program has no instructions");
        var isSecondSlot = new bool[n];
        for (int pc = 0; pc < n; pc++)
        {
            if (insns[pc].IsLdImm64)
            {
                if (pc + 1 >= n) throw Err(prog, pc, "ld_imm64 is missing its second slot");
                isSecondSlot[pc + 1] = true;
                pc++;
            }
        }
        var jumpTarget = new bool[n];

        for (int pc = 0; pc < n; pc++)
        {
            var ins = insns[pc];
            byte op = ins.Opcode;
            int cls = op & 7;
            var d = new DecodedInsn { Op = op, Dst = ins.Dst, Src = ins.Src, Off = ins.Offset, Imm = ins.Imm };
            if (ins.Dst > 10 || ins.Src > 10) throw Err(prog, pc, $"invalid register r{Math.Max(ins.Dst, ins.Src)}");

            void NoWriteR10()
            {
                if (ins.Dst == 10) throw Err(prog, pc, "frame pointer r10 is read only");
            }
            void Reserved(bool ok, string what)
            {
                if (!ok) throw Err(prog, pc, $"invalid {what} (reserved fields must be 0): {ins}");
            }
            void Target(long t)
            {
                if (t < 0 || t >= n) throw Err(prog, pc, $"jump out of range: target {t} of {n} instructions");
                if (isSecondSlot[t]) throw Err(prog, pc, $"jump into the middle of ld_imm64 at {t}");
                jumpTarget[t] = true;
            }

            switch (cls)
            {
                case Op.ALU:
                case Op.ALU64:
                {
                    bool is64 = cls == Op.ALU64;
                    bool x = (op & Op.X) != 0;
                    int aop = op & 0xf0;
                    NoWriteR10();
                    if (!x) Reserved(ins.Src == 0, "ALU K source register");
                    else Reserved(ins.Imm == 0 || aop == Op.END, "ALU X immediate");
                    switch (aop)
                    {
                        case Op.ADD or Op.SUB or Op.MUL or Op.OR or Op.AND or Op.LSH or Op.RSH or Op.XOR or Op.ARSH:
                            Reserved(ins.Offset == 0, "ALU offset");
                            break;
                        case Op.DIV or Op.MOD:
                            Reserved(ins.Offset is 0 or 1, "DIV/MOD offset");
                            if (ins.Offset == 1)
                            {
                                bool div = aop == Op.DIV;
                                d.Op = (is64, div, x) switch
                                {
                                    (true, true, false) => IOp.SDIV64K, (true, true, true) => IOp.SDIV64X,
                                    (true, false, false) => IOp.SMOD64K, (true, false, true) => IOp.SMOD64X,
                                    (false, true, false) => IOp.SDIV32K, (false, true, true) => IOp.SDIV32X,
                                    (false, false, false) => IOp.SMOD32K, _ => IOp.SMOD32X,
                                };
                            }
                            break;
                        case Op.NEG:
                            Reserved(!x && ins.Offset == 0 && ins.Imm == 0, "NEG");
                            break;
                        case Op.MOV:
                            if (x && ins.Offset != 0)
                            {
                                d.Op = (is64, ins.Offset) switch
                                {
                                    (true, 8) => IOp.MOVSX64_8, (true, 16) => IOp.MOVSX64_16, (true, 32) => IOp.MOVSX64_32,
                                    (false, 8) => IOp.MOVSX32_8, (false, 16) => IOp.MOVSX32_16,
                                    _ => throw Err(prog, pc, $"invalid MOVSX offset {ins.Offset}"),
                                };
                            }
                            else Reserved(ins.Offset == 0, "MOV offset");
                            break;
                        case Op.END:
                            Reserved(ins.Offset == 0 && ins.Src == 0, "END");
                            if (ins.Imm is not (16 or 32 or 64)) throw Err(prog, pc, $"invalid byte swap width {ins.Imm}");
                            if (is64 && x) throw Err(prog, pc, "invalid BSWAP (ALU64 END with source X)");
                            bool swap = is64 || x; // BSWAP, or TO_BE on a little-endian machine
                            d.Op = (swap, ins.Imm) switch
                            {
                                (false, 16) => IOp.LE16, (false, 32) => IOp.LE32, (false, _) => IOp.NOP,
                                (true, 16) => IOp.BSWAP16, (true, 32) => IOp.BSWAP32, _ => IOp.BSWAP64,
                            };
                            break;
                        default:
                            throw Err(prog, pc, $"invalid ALU opcode 0x{op:x2}");
                    }
                    break;
                }
                case Op.JMP:
                case Op.JMP32:
                {
                    int jop = op & 0xf0;
                    bool x = (op & Op.X) != 0;
                    if (jop == Op.CALL)
                    {
                        if (cls == Op.JMP32) throw Err(prog, pc, "invalid JMP32 CALL");
                        if (x)
                        {
                            Reserved(ins.Src == 0 && ins.Offset == 0 && ins.Imm == 0, "callx");
                            break;
                        }
                        Reserved(ins.Dst == 0 && ins.Offset == 0, "call");
                        if (ins.Src == Op.CALL_LOCAL)
                        {
                            Target(pc + 1L + ins.Imm);
                            d.Op = IOp.CALL_LOCAL;
                        }
                        else if (ins.Src == Op.CALL_KFUNC)
                            throw Err(prog, pc, $"kfunc calls (BTF id {ins.Imm}) are not supported");
                        else if (ins.Src == Op.CALL_HELPER)
                        {
                            var fn = host.Resolve(ins.Imm, prog.Type);
                            if (fn is null)
                                throw Err(prog, pc, $"unknown func {BpfHelperNames.Name(ins.Imm)}#{ins.Imm}: a {prog.Type} program cannot call it here");
                            helperFns[ins.Imm] = fn;
                        }
                        else throw Err(prog, pc, $"invalid call source {ins.Src}");
                        break;
                    }
                    if (jop == Op.EXIT)
                    {
                        Reserved(cls == Op.JMP && !x && ins.Dst == 0 && ins.Src == 0 && ins.Offset == 0 && ins.Imm == 0, "exit");
                        break;
                    }
                    if (jop == Op.JA)
                    {
                        Reserved(!x && ins.Dst == 0 && ins.Src == 0, "JA");
                        if (cls == Op.JMP32) { Reserved(ins.Offset == 0, "gotol"); Target(pc + 1L + ins.Imm); }
                        else { Reserved(ins.Imm == 0, "JA"); Target(pc + 1L + ins.Offset); }
                        break;
                    }
                    if (jop is not (Op.JEQ or Op.JGT or Op.JGE or Op.JSET or Op.JNE or Op.JSGT or Op.JSGE or Op.JLT or Op.JLE or Op.JSLT or Op.JSLE))
                        throw Err(prog, pc, $"invalid jump opcode 0x{op:x2}");
                    if (x) Reserved(ins.Imm == 0, "jump X immediate");
                    else Reserved(ins.Src == 0, "jump K source register");
                    Target(pc + 1L + ins.Offset);
                    break;
                }
                case Op.LD:
                {
                    int mode = op & 0xe0;
                    if (op == Op.LDDW)
                    {
                        NoWriteR10();
                        var hi = insns[pc + 1];
                        Reserved(hi.Opcode == 0 && hi.Dst == 0 && hi.Src == 0 && hi.Offset == 0 && ins.Offset == 0, "ld_imm64 second slot");
                        d.Imm = (long)ResolveLdImm64(prog, inst, pc, ins, hi, n);
                        d.Src = 0;
                        code[pc] = d;
                        code[pc + 1] = new DecodedInsn { Op = IOp.Filler };
                        pc++;
                        continue;
                    }
                    if (mode is Op.ABS or Op.IND && (op & 0x18) != Op.DW)
                    {
                        Reserved(ins.Dst == 0 && ins.Offset == 0 && (mode == Op.IND || ins.Src == 0), "legacy packet load");
                        break;
                    }
                    throw Err(prog, pc, $"invalid LD opcode 0x{op:x2}");
                }
                case Op.LDX:
                {
                    NoWriteR10();
                    int mode = op & 0xe0;
                    Reserved(ins.Imm == 0, "LDX immediate");
                    if (mode == Op.MEM) break;
                    if (mode == Op.MEMSX && (op & 0x18) != Op.DW) break;
                    throw Err(prog, pc, $"invalid LDX opcode 0x{op:x2}");
                }
                case Op.ST:
                    if ((op & 0xe0) != Op.MEM) throw Err(prog, pc, $"invalid ST opcode 0x{op:x2}");
                    Reserved(ins.Src == 0, "ST source register");
                    break;
                case Op.STX:
                {
                    int mode = op & 0xe0;
                    if (mode == Op.MEM) { Reserved(ins.Imm == 0, "STX immediate"); break; }
                    if (mode == Op.ATOMIC && (op & 0x18) is Op.W or Op.DW)
                    {
                        if (ins.Imm is not (Op.ADD or Op.OR or Op.AND or Op.XOR or (Op.ADD | Op.FETCH) or (Op.OR | Op.FETCH)
                            or (Op.AND | Op.FETCH) or (Op.XOR | Op.FETCH) or Op.XCHG or Op.CMPXCHG))
                            throw Err(prog, pc, $"invalid atomic operation 0x{ins.Imm:x}");
                        break;
                    }
                    throw Err(prog, pc, $"invalid STX opcode 0x{op:x2}");
                }
            }
            code[pc] = d;
        }

        var last = insns[n - 1];
        if (!(last.Opcode == (Op.JMP | Op.EXIT) || last.Opcode == (Op.JMP | Op.JA) || last.Opcode == (Op.JMP32 | Op.JA)))
            throw Err(prog, n - 1, "the last instruction is not exit or a jump: execution would fall off the end");

        CheckHelperArgs(prog, inst, insns, jumpTarget);
    }

    private static ulong ResolveLdImm64(BpfProgram prog, BpfInstance inst, int pc, BpfInsn lo, BpfInsn hi, int n)
    {
        switch (lo.Src)
        {
            case 0:
                return (uint)lo.Imm | ((ulong)(uint)hi.Imm << 32);
            case Op.PSEUDO_MAP_FD:
            case Op.PSEUDO_MAP_IDX:
                if ((uint)lo.Imm >= (uint)inst.Maps.Count) throw Err(prog, pc, $"ld_imm64 refers to map {lo.Imm}, but the object has {inst.Maps.Count}");
                return inst.Maps[lo.Imm].Handle;
            case Op.PSEUDO_MAP_VALUE:
            case Op.PSEUDO_MAP_IDX_VALUE:
            {
                if ((uint)lo.Imm >= (uint)inst.Maps.Count) throw Err(prog, pc, $"ld_imm64 refers to map {lo.Imm}, but the object has {inst.Maps.Count}");
                var m = inst.Maps[lo.Imm];
                if (m.Spec.Type is not (BpfMapType.Array) || m.Spec.MaxEntries != 1 && !m.Spec.IsGlobalData)
                    throw Err(prog, pc, $"direct value access needs a single-element array map, not '{m.Name}'");
                if ((uint)hi.Imm >= (uint)m.Spec.ValueSize + 1) throw Err(prog, pc, $"direct value offset {hi.Imm} outside map '{m.Name}' value of {m.Spec.ValueSize} bytes");
                return m.Address + (uint)hi.Imm;
            }
            case Op.PSEUDO_FUNC:
            {
                long t = pc + 1L + lo.Imm;
                if (t < 0 || t >= n) throw Err(prog, pc, $"function address target {t} outside the program");
                return BpfVm.CodeBase + (ulong)t * 8;
            }
            case Op.PSEUDO_BTF_ID:
                throw Err(prog, pc, $"ld_imm64 of a kernel BTF id ({lo.Imm}) is not supported");
            default:
                throw Err(prog, pc, $"invalid ld_imm64 source {lo.Src}");
        }
    }

    // ---- helper argument rules --------------------------------------------------------------

    private enum K { Unknown, Const, Bounded, Unbounded, MapPtr, MapValue, Stack }
    private readonly record struct Val(K Kind, long Const = 0, int Map = -1);

    private static void CheckHelperArgs(BpfProgram prog, BpfInstance inst, BpfInsn[] insns, bool[] jumpTarget)
    {
        for (int pc = 0; pc < insns.Length; pc++)
        {
            var ins = insns[pc];
            if (ins.IsLdImm64) { pc++; continue; }
            if (!ins.IsHelperCall) continue;
            string name = BpfHelperNames.Name(ins.Imm);
            void Size(int reg)
            {
                var v = ValueOf(insns, jumpTarget, pc, reg, 0);
                if (v.Kind == K.Unbounded)
                    throw Err(prog, pc, $"{name}: R{reg} (a size) is not a bounded constant; use 'var &= const' or 'if (var < const)'");
                if (v.Kind == K.Const && v.Const < 0)
                    throw Err(prog, pc, $"{name}: R{reg} size {v.Const} is negative");
            }
            void MapArg(int reg, BpfMapType? type)
            {
                var v = ValueOf(insns, jumpTarget, pc, reg, 0);
                if (v.Kind is K.Unknown) return;
                if (v.Kind != K.MapPtr)
                    throw Err(prog, pc, $"{name}: R{reg} is not a map pointer");
                if (type is { } t && inst.Maps[v.Map].Spec.Type != t)
                    throw Err(prog, pc, $"{name}: map '{inst.Maps[v.Map].Name}' is a {inst.Maps[v.Map].Spec.Type}, not a {t}");
            }
            // The prototype's arguments, r1 first, as check_helper_call walks them.
            if (HelperProtos.Of(ins.Imm) is not { } proto) continue;
            for (int a = 0; a < proto.Args.Length; a++)
            {
                int reg = a + 1;
                switch (proto.Args[a])
                {
                    case HelperArg.ConstSize or HelperArg.ConstSizeOrZero:
                        Size(reg);
                        break;
                    case HelperArg.ConstMapPtr:
                        MapArg(reg, proto.Map switch
                        {
                            HelperMap.PerfEventArray => BpfMapType.PerfEventArray,
                            HelperMap.Ringbuf => BpfMapType.RingBuf,
                            _ => null,
                        });
                        break;
                    case HelperArg.PtrToConstStr:
                    {
                        var f = ValueOf(insns, jumpTarget, pc, reg, 0);
                        bool ro = f.Kind == K.MapValue && inst.Maps[f.Map].Spec.ReadOnly;
                        if (f.Kind != K.Unknown && !ro)
                            throw Err(prog, pc, $"{name}: R{reg} (the format) does not point to read-only data (.rodata); the format must be a constant string");
                        break;
                    }
                }
            }
        }
    }

    /// <summary>What register reg holds just before insns[pc], from a backward scan of straight-line code.</summary>
    private static Val ValueOf(BpfInsn[] insns, bool[] jumpTarget, int pc, int reg, int depth)
    {
        if (depth > 16) return new(K.Unknown);
        if (reg == 10) return new(K.Stack);
        for (int j = pc - 1; j >= 0; j--)
        {
            if (j > 0 && insns[j - 1].IsLdImm64) continue; // second slot
            var i = insns[j];
            int cls = i.Opcode & 7;
            if (i.IsCall)
            {
                if (reg == 0) return new(K.Unbounded);
                if (reg <= 5) return new(K.Unknown);
            }
            else if (cls is Op.JMP or Op.JMP32 && (i.Opcode & 0xf0) is not (Op.JA or Op.EXIT) && i.Dst == reg)
                return new(K.Bounded); // a comparison of reg on this path may bound it
            else if (i.Dst == reg)
            {
                if (i.IsLdImm64)
                {
                    return i.Src switch
                    {
                        Op.PSEUDO_MAP_FD or Op.PSEUDO_MAP_IDX => new(K.MapPtr, 0, i.Imm),
                        Op.PSEUDO_MAP_VALUE or Op.PSEUDO_MAP_IDX_VALUE => new(K.MapValue, insns[j + 1].Imm, i.Imm),
                        0 => new(K.Const, (long)((uint)i.Imm | ((ulong)(uint)insns[j + 1].Imm << 32))),
                        _ => new(K.Unknown),
                    };
                }
                if (cls is Op.ALU or Op.ALU64)
                {
                    int aop = i.Opcode & 0xf0;
                    bool x = (i.Opcode & Op.X) != 0;
                    if (aop == Op.MOV && !x) return new(K.Const, cls == Op.ALU ? (uint)i.Imm : i.Imm);
                    if (aop == Op.MOV && x && i.Offset == 0) return ValueOf(insns, jumpTarget, j, i.Src, depth + 1);
                    if (aop == Op.AND && !x && i.Imm >= 0) return new(K.Bounded);
                    if (aop == Op.ADD && !x)
                    {
                        var b = ValueOf(insns, jumpTarget, j, reg, depth + 1);
                        return b.Kind is K.Const or K.MapValue ? b with { Const = b.Const + i.Imm } : b.Kind is K.Stack or K.Unbounded ? b : new(K.Unknown);
                    }
                    if (aop is Op.RSH or Op.MOD && !x) return new(K.Bounded);
                    return new(K.Unknown);
                }
                if (cls == Op.LDX) return new(K.Unbounded);
                if (cls == Op.LD) return new(K.Unknown);
            }
            if (jumpTarget[j]) return new(K.Unknown);
        }
        return new(K.Unknown);
    }

    private static BpfVerifierException Err(BpfProgram prog, int pc, string msg) =>
        new(msg, prog.Section, pc, prog.LineOf(pc));
}
