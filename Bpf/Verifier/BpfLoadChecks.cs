using BpfTraceSim.Kernel;
using BpfTraceSim.Bpf.Helpers;
using BpfTraceSim.Bpf.Isa;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;

namespace BpfTraceSim.Bpf.Verifier;

/// <summary>
/// What the simulator checks when a program is prepared for a VM: invalid or reserved encodings,
/// writes to r10, jumps out of the program or into the second slot of ld_imm64, map references;
/// then <see cref="BpfVerifier"/> walks every path as the kernel's verifier does (once per program).
/// Programs built with decodeOnly (tests of run-time faults) stop after the encoding checks.
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
                            // The verifier refuses the call on a path that reaches it, with the kernel's message.
                            if (fn is null && (prog.DecodeOnly || prog.Type is BpfProgramType.SocketFilter or BpfProgramType.Unknown))
                                throw Err(prog, pc, $"unknown func {BpfHelperNames.Name(ins.Imm)}#{ins.Imm}");
                            if (fn is not null) helperFns[ins.Imm] = fn;
                            // bpf_loop calls back into the program: its own opcode, so other helper calls pay nothing for it
                            if (fn is not null && ins.Imm == HelperProtos.Loop) d.Op = IOp.CALL_LOOP;
                            if (fn is not null && ins.Imm == HelperProtos.TailCall) d.Op = IOp.CALL_TAIL;
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

        // The verifier models the tracing program types; others (socket filters such as the
        // vm-programs benchmarks, untyped sections) keep the encoding checks and run-time faults.
        if (!prog.DecodeOnly && prog.Type is not (BpfProgramType.SocketFilter or BpfProgramType.Unknown))
            BpfVerifier.VerifyCached(prog, inst.Object.Maps, host);
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
                return BtfIdAddress(prog, inst, pc, lo.Imm);
            case Op.PSEUDO_KSYM_IDX:
                return KsymAddress(prog, inst, pc, lo.Imm);
            default:
                throw Err(prog, pc, $"invalid ld_imm64 source {lo.Src}");
        }
    }

    // libbpf's bpf_object__resolve_externs: a typeless __ksym takes its kallsyms address; a weak one
    // that is not there is 0; a strong one that is not there fails the load with -ESRCH.
    private static ulong KsymAddress(BpfProgram prog, BpfInstance inst, int pc, int index)
    {
        var ksyms = inst.Object.Ksyms;
        if ((uint)index >= (uint)ksyms.Count) throw Err(prog, pc, $"ld_imm64 refers to __ksym {index}, but the object has {ksyms.Count}");
        var k = ksyms[index];
        if (inst.Kallsyms is { } syms && syms.TryGetAddress(k.Name, out ulong addr)) return addr;
        if (k.Weak) return 0;
        string msg = $"libbpf: extern '{k.Name}' (strong): not resolved";
        throw new BpfVerifierException(msg, prog.Section, pc, prog.LineOf(pc), Errno.ESRCH, msg + "\n");
    }

    // check_pseudo_btf_id: the VAR's name looked up in kallsyms (a per-CPU variable's address is its
    // per-CPU offset); the loader put only VARs of the kernel BTF here.
    private static ulong BtfIdAddress(BpfProgram prog, BpfInstance inst, int pc, int btfId)
    {
        if (prog.TypedKsym(btfId) is not { } k)
            throw new BpfVerifierException($"ldimm64 insn specifies invalid btf_id {btfId}.", prog.Section, pc, prog.LineOf(pc), Errno.ENOENT,
                $"ldimm64 insn specifies invalid btf_id {btfId}.\n");
        if (inst.Kallsyms is { } syms && syms.TryGetAddress(k.Name, out ulong addr)) return addr;
        string msg = $"ldimm64 failed to find the address for kernel symbol '{k.Name}'.";
        throw new BpfVerifierException(msg, prog.Section, pc, prog.LineOf(pc), Errno.ENOENT, msg + "\n");
    }

    private static BpfVerifierException Err(BpfProgram prog, int pc, string msg) =>
        new(msg, prog.Section, pc, prog.LineOf(pc), Errno.EINVAL, msg + "\n");
}
