using System.Buffers.Binary;
using System.Text;
using BpfTraceSim.Bpf.Helpers;
using BpfTraceSim.Bpf.Isa;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Kernel;

namespace BpfTraceSim.Bpf.Verifier;

/// <summary>Knobs of the verifier that the kernel derives from the loader's capabilities.</summary>
public sealed record BpfVerifierOptions
{
    /// <summary>
    /// bpf_allow_uninit_stack (CAP_PERFMON, the loader of every tracing program): reading stack the
    /// program never wrote gives an unknown scalar instead of a refusal (kernel 6.5 and later).
    /// False: the refusals of an unprivileged load ("invalid read from stack ...").
    /// </summary>
    public bool AllowUninitStack { get; init; } = true;

    /// <summary>BPF_COMPLEXITY_LIMIT_INSNS.</summary>
    public int ComplexityLimit { get; init; } = 1_000_000;

    public static readonly BpfVerifierOptions Default = new();
}

/// <summary>What an accepted program cost the verifier (the kernel's closing statistics line).</summary>
public sealed record BpfVerifierResult(int Processed, int MaxStatesPerInsn, int TotalStates, int PeakStates, string Log);

/// <summary>
/// The verifier for tracing programs, modelled on kernel/bpf/verifier.c's do_check: abstract
/// interpretation of every path with register and stack states, pruning at jump targets against
/// states already proven safe, bounded loops under the processed-instruction limit, helper
/// arguments checked from HelperProtos' argument kinds, and the program type's helper table and
/// context rules (ProgramTypeRules). Refusals throw <see cref="BpfVerifierException"/> carrying the
/// kernel's errno and a log whose last line is the kernel's message. docs/verifier.md lists the rules.
/// </summary>
public sealed partial class BpfVerifier
{
    private const int MaxStack = 512, MaxFrames = 8, MaxVarOff = 1 << 29, MaxVarSize = 1 << 29, MaxJmpSeq = 8192;

    private readonly BpfProgram _prog;
    private readonly BpfInsn[] _insns;
    private readonly IReadOnlyList<BpfMapSpec> _maps;
    private readonly IBpfHelperHost? _host;
    private readonly BpfVerifierOptions _opt;
    private readonly (int Size, bool Writable, bool Aligned) _ctx;
    private readonly bool[] _prune;
    private readonly List<VState>?[] _explored;
    private readonly Stack<VState> _stack = new();
    private readonly List<string> _notes = [];
    private VState _cur = null!;
    private int _processed, _totalStates, _curStates, _peakStates, _maxPerInsn, _idGen, _pc;
    private int _jumps, _prevJumps, _prevInsns;

    private BpfVerifier(BpfProgram prog, IReadOnlyList<BpfMapSpec> maps, IBpfHelperHost? host, BpfVerifierOptions opt)
    {
        _prog = prog;
        _insns = prog.Insns;
        _maps = maps;
        _host = host;
        _opt = opt;
        _ctx = ProgramTypeRules.Ctx(prog.Type);
        if (IsIterTask) _ctx = (16, false, true); // struct bpf_iter__task: btf_ctx_access knows its two args only
        _prune = new bool[_insns.Length];
        _explored = new List<VState>?[_insns.Length];
    }

    /// <summary>
    /// Verifies a program whose encodings BpfLoadChecks accepted. host: the helpers the simulator
    /// can run for this program (null: every helper with a prototype). Throws BpfVerifierException.
    /// </summary>
    public static BpfVerifierResult Verify(BpfProgram prog, IReadOnlyList<BpfMapSpec> maps, IBpfHelperHost? host = null, BpfVerifierOptions? options = null)
    {
        var v = new BpfVerifier(prog, maps, host, options ?? BpfVerifierOptions.Default);
        try
        {
            v.CheckCfg();
            v.DoCheck();
            v.CheckTailCallStack();
        }
        catch (Refusal r)
        {
            throw v.Exception(r);
        }
        prog.ProbeMemLoads = v._probeMem;
        return new BpfVerifierResult(v._processed, v._maxPerInsn, v._totalStates, v._peakStates, v.Stats());
    }

    /// <summary>Verify once per program and helper availability: every VM of a program shares the outcome.</summary>
    internal static void VerifyCached(BpfProgram prog, IReadOnlyList<BpfMapSpec> maps, IBpfHelperHost host)
    {
        var key = new StringBuilder();
        foreach (var h in prog.HelperCalls) key.Append(host.Resolve(h.HelperId, prog.Type) is null ? '0' : '1');
        string k = key.ToString();
        lock (prog)
        {
            if (prog.VerifierCache is Cached c && c.Key == k)
            {
                if (c.Error is not null) throw c.Error;
                return;
            }
        }
        Exception? err = null;
        try { Verify(prog, maps, host); }
        catch (BpfVerifierException e) { err = e; }
        lock (prog) prog.VerifierCache = new Cached(k, err);
        if (err is not null) throw err;
    }

    private sealed record Cached(string Key, Exception? Error);

    private sealed class Refusal(int errno, string? message) : Exception(message ?? "")
    {
        public int Errno { get; } = errno;
        public string? Kernel { get; } = message;
    }

    private Refusal Fail(int errno, string? message) => new(errno, message);
    private Refusal Access(string message) => new(Errno.EACCES, message);

    private string Stats() =>
        $"processed {_processed} insns (limit {_opt.ComplexityLimit}) max_states_per_insn {_maxPerInsn} total_states {_totalStates} peak_states {_peakStates} mark_read 0";

    private BpfVerifierException Exception(Refusal r)
    {
        var sb = new StringBuilder();
        var line = _prog.LineOf(_pc);
        if (line is { } l && l.Text.Length > 0) sb.Append("; ").Append(l.Text.Trim()).Append(" @ ").Append(l).Append('\n');
        string? kernel = r.Kernel;
        if (CoreFixup(kernel) is { } spec)
        {
            // libbpf's fixup_log_failed_core_relo: the poisoned call and its refusal become the relocation that failed
            sb.Append(_pc).Append(": <invalid CO-RE relocation>\n");
            kernel = "failed to resolve CO-RE relocation " + spec;
        }
        else if (_pc >= 0 && _pc < _insns.Length) sb.Append(_pc).Append(": ").Append(Disasm(_pc)).Append('\n');
        foreach (var n in _notes) sb.Append(n).Append('\n');
        if (kernel is not null) sb.Append(kernel).Append('\n');
        string log = sb.ToString();
        string msg = kernel ?? $"refused with -{Errno.Name(r.Errno)}";
        return new BpfVerifierException(msg, _prog.Section, _pc, line, r.Errno, log);
    }

    // The local spec of a CO-RE relocation the loader poisoned at _pc, when the refusal is the verifier's for that call.
    private string? CoreFixup(string? kernel) =>
        kernel == $"invalid func unknown#{Btf.CoreRelocator.PoisonImm}" && _prog.CorePoisoned is { } p && p.TryGetValue(_pc, out var spec) ? spec : null;

    private string Disasm(int pc)
    {
        var i = _insns[pc];
        if (i.IsHelperCall) return $"(85) call {BpfHelperNames.Name(i.Imm)}#{i.Imm}";
        if (i.IsCall && i.Src == Op.CALL_LOCAL) return $"(85) call pc{(i.Imm >= 0 ? "+" : "")}{i.Imm}";
        if (i.Opcode == (Op.JMP | Op.EXIT)) return "(95) exit";
        return $"({i.Opcode:x2}) {i}";
    }

    // ---- check_cfg: reachability, jump ranges and prune points of the main program ----------------

    // update_stack_depth: each function's deepest stack byte any path touched (its subprog stack_depth)
    private readonly Dictionary<int, int> _stackDepth = [];

    private void Deepen(FrameState frame, long lowest)
    {
        int d = (int)-lowest;
        if (!_stackDepth.TryGetValue(frame.Func, out int had) || d > had) _stackDepth[frame.Func] = d;
    }

    /// <summary>
    /// check_max_stack_depth for a program that tail-calls (x86-64 JIT, which then gives it no private
    /// stack): walking the calls from the main program, each function adds its stack depth rounded up
    /// to 16 bytes (round_up_stack_depth with the JIT); a subprogram with a tail call may be entered
    /// with at most 255 bytes of its callers' stack above it, since a tail call unwinds only its own
    /// frame (33 chained tail calls each keep their callers'); past 512 the chain is too large. Programs
    /// without tail calls are not checked here (their private-stack rules are not modelled).
    /// </summary>
    private void CheckTailCallStack()
    {
        int n = _insns.Length;
        var starts = new SortedSet<int> { 0 };
        for (int i = 0; i < n; i++)
        {
            var ins = _insns[i];
            if ((ins.IsCall && ins.Src == Op.CALL_LOCAL) || (ins.IsLdImm64 && ins.Src == Op.PSEUDO_FUNC)) starts.Add(i + 1 + ins.Imm);
            if (ins.IsLdImm64) i++;
        }
        var funcs = starts.Where(s => s >= 0 && s < n).ToArray();
        int End(int f) { int k = Array.IndexOf(funcs, f); return k + 1 < funcs.Length ? funcs[k + 1] : n; }
        bool HasTailCall(int f)
        {
            for (int i = f; i < End(f); i++) if (_insns[i].IsHelperCall && _insns[i].Imm == HelperProtos.TailCall) return true;
            return false;
        }
        if (!funcs.Any(HasTailCall)) return;
        void Walk(int f, int depth, int frame, int site)
        {
            if (f != 0 && HasTailCall(f) && depth >= 256)
            {
                _pc = site;
                throw Access($"tail_calls are not allowed when call stack of previous frames is {depth} bytes. Too large");
            }
            depth += (_stackDepth.GetValueOrDefault(f) + 15) & ~15;
            if (depth > MaxStack)
            {
                _pc = site;
                throw Access($"combined stack size of {frame + 1} calls is {depth}. Too large");
            }
            for (int i = f; i < End(f); i++)
            {
                var ins = _insns[i];
                if ((ins.IsCall && ins.Src == Op.CALL_LOCAL) || (ins.IsLdImm64 && ins.Src == Op.PSEUDO_FUNC))
                {
                    int t = i + 1 + ins.Imm;
                    if (t >= 0 && t < n && frame + 1 < MaxFrames) Walk(t, depth, frame + 1, i);
                }
                if (ins.IsLdImm64) i++;
            }
        }
        Walk(0, 0, 0, 0);
    }

    private void CheckCfg()
    {
        int n = _insns.Length;
        var starts = new SortedSet<int> { 0 };
        for (int i = 0; i < n; i++)
        {
            var ins = _insns[i];
            if (ins.IsCall && ins.Src == Op.CALL_LOCAL) starts.Add(i + 1 + ins.Imm);
            if (ins.IsLdImm64 && ins.Src == Op.PSEUDO_FUNC) starts.Add(i + 1 + ins.Imm);
            if (ins.IsLdImm64) i++;
        }
        foreach (int s in starts) _prune[s] = true;
        int mainEnd = Math.Min(_prog.MainLength, n);
        foreach (int s in starts) if (s > 0 && s < mainEnd) { mainEnd = s; break; }

        // Every instruction's successors; mark prune points on the way.
        for (int i = 0; i < n; i++)
        {
            var ins = _insns[i];
            if (ins.IsLdImm64) { i++; continue; }
            int cls = ins.Opcode & 7;
            if (cls is not (Op.JMP or Op.JMP32)) continue;
            int jop = ins.Opcode & 0xf0;
            if (jop is Op.CALL)
            {
                if (i + 1 < n) _prune[i + 1] = true;
                continue;
            }
            if (jop is Op.EXIT) continue;
            long t = i + 1L + (cls == Op.JMP32 && jop == Op.JA ? ins.Imm : ins.Offset);
            if (t >= 0 && t < n) _prune[t] = true;
            if (jop != Op.JA && i + 1 < n) _prune[i + 1] = true;
        }

        // The main program: every instruction reached, no jump leaving it, and it ends in exit or ja.
        var seen = new bool[mainEnd];
        var work = new Stack<int>();
        work.Push(0);
        while (work.Count > 0)
        {
            int i = work.Pop();
            if (i >= mainEnd || seen[i]) continue;
            seen[i] = true;
            var ins = _insns[i];
            if (ins.IsLdImm64) { if (i + 1 < mainEnd) seen[i + 1] = true; work.Push(i + 2); continue; }
            int cls = ins.Opcode & 7;
            if (cls is Op.JMP or Op.JMP32)
            {
                int jop = ins.Opcode & 0xf0;
                if (jop == Op.EXIT) continue;
                if (jop == Op.CALL) { work.Push(i + 1); continue; }
                long t = i + 1L + (cls == Op.JMP32 && jop == Op.JA ? ins.Imm : ins.Offset);
                if (t < 0 || t >= mainEnd) { _pc = i; throw Fail(Errno.EINVAL, $"jump out of range from insn {i} to {t}"); }
                work.Push((int)t);
                if (jop != Op.JA) work.Push(i + 1);
                continue;
            }
            work.Push(i + 1);
        }
        var last = _insns[mainEnd - 1];
        if (mainEnd >= 2 && _insns[mainEnd - 2].IsLdImm64) last = default;
        if (last.Opcode != (Op.JMP | Op.EXIT) && last.Opcode != (Op.JMP | Op.JA) && last.Opcode != (Op.JMP32 | Op.JA))
        {
            _pc = mainEnd - 1;
            throw Fail(Errno.EINVAL, "last insn is not an exit or jmp");
        }
        for (int i = 0; i < mainEnd; i++)
            if (!seen[i]) { _pc = i; throw Fail(Errno.EINVAL, $"unreachable insn {i}"); }
    }

    // ---- do_check ---------------------------------------------------------------------------------

    private void DoCheck()
    {
        var init = new VState();
        var f0 = new FrameState();
        init.Frames[0] = f0;
        f0.Regs[1] = Reg.Ptr(RegType.Ctx);
        f0.Regs[10] = Reg.Ptr(RegType.Stack);
        _cur = init;
        while (true)
        {
            _pc = _cur.Pc;
            _notes.Clear();
            if (++_processed > _opt.ComplexityLimit)
                throw Fail(Errno.E2BIG, $"BPF program is too large. Processed {_processed} insn");
            if (_prune[_pc] && IsStateVisited())
            {
                if (!NextPath()) return;
                continue;
            }
            if (!Step() && !NextPath()) return;
        }
    }

    /// <summary>The current path ended (exit or pruned): take the next pending branch.</summary>
    private bool NextPath()
    {
        for (var p = _cur.Parent; p is not null; p = p.Parent)
            if (--p.Branches > 0) break;
        if (_stack.Count == 0) return false;
        _cur = _stack.Pop();
        return true;
    }

    private void Push(VState s)
    {
        if (_stack.Count >= MaxJmpSeq) throw Fail(Errno.E2BIG, $"The sequence of {MaxJmpSeq} jumps is too complex.");
        if (_cur.Parent is { } p) p.Branches++;
        s.Parent = _cur.Parent;
        _stack.Push(s);
    }

    /// <summary>is_state_visited: prune when a finished state at this instruction covers the current one.</summary>
    private bool IsStateVisited()
    {
        var list = _explored[_pc] ??= [];
        for (int i = 0; i < list.Count; i++)
        {
            var old = list[i];
            if (old.Branches > 0)
            {
                // Still being explored: if it is our ancestor and covers us, the loop never ends.
                if (MaybeLooping(old, _cur) && StatesSafe(old, _cur, precise: true) && IsAncestor(old))
                    throw Fail(Errno.EINVAL, $"infinite loop detected at insn {_pc}");
                old.Misses++;
                continue;
            }
            if (StatesSafe(old, _cur, old.Precise))
            {
                old.Hits++;
                // propagate_precision: this path is safe because its scalars are within old's ranges.
                if (old.Precise) DemandPrecision();
                return true;
            }
            old.Misses++;
        }
        // Like the kernel, stop comparing against states that keep missing (a state still being
        // explored stays alive through its descendants' Parent links).
        int before = list.Count;
        list.RemoveAll(s => s.Misses > s.Hits * 3 + 3);
        _curStates -= before - list.Count;
        // ... and keep a new one only after at least 2 jumps and 8 instructions since the last.
        if (_jumps - _prevJumps < 2 || _processed - _prevInsns < 8) return false;
        _prevJumps = _jumps;
        _prevInsns = _processed;

        var cp = _cur.Clone();
        cp.Branches = 1;
        cp.Parent = _cur.Parent;
        _cur.Parent = cp;
        list.Add(cp);
        _totalStates++;
        _curStates++;
        _peakStates = Math.Max(_peakStates, _curStates);
        _maxPerInsn = Math.Max(_maxPerInsn, list.Count);
        return false;
    }

    /// <summary>states_maybe_looping: the current frame's registers are exactly the same (a cheap filter).</summary>
    private static bool MaybeLooping(VState old, VState cur)
    {
        if (old.Cur != cur.Cur) return false;
        var a = old.R;
        var b = cur.R;
        for (int r = 0; r < 11; r++)
        {
            ref var x = ref a[r];
            ref var y = ref b[r];
            if (x.Type != y.Type || x.Off != y.Off || x.Var != y.Var || x.UMin != y.UMin || x.UMax != y.UMax
                || x.SMin != y.SMin || x.SMax != y.SMax || x.Map != y.Map || x.Frame != y.Frame) return false;
        }
        return true;
    }

    /// <summary>
    /// mark_chain_precision, coarsely: the current path relies on scalar values, so every checkpoint
    /// it descends from compares all its scalars by range from now on (sound, if less pruning).
    /// </summary>
    private void DemandPrecision()
    {
        for (var p = _cur.Parent; p is not null && !p.Precise; p = p.Parent) p.Precise = true;
    }

    private bool IsAncestor(VState s)
    {
        for (var p = _cur.Parent; p is not null; p = p.Parent)
            if (ReferenceEquals(p, s)) return true;
        return false;
    }

    // ---- state comparison (states_equal / regsafe / stacksafe) --------------------------------------

    private static bool StatesSafe(VState old, VState cur, bool precise)
    {
        if (old.Cur != cur.Cur || old.Refs.Count != cur.Refs.Count) return false;
        var ids = new List<(int, int)>();
        for (int i = 0; i < old.Refs.Count; i++)
            if (!IdMatch(ids, old.Refs[i].Id, cur.Refs[i].Id)) return false;
        for (int f = 0; f <= old.Cur; f++)
        {
            var of = old.Frames[f];
            var cf = cur.Frames[f];
            if (of.CallSite != cf.CallSite) return false;
            for (int r = 0; r < 11; r++)
                if (!RegSafe(of.Regs[r], cf.Regs[r], ids, precise)) return false;
            for (int b = 0; b < of.Kinds.Length; b++)
            {
                byte ok = of.Kinds[b];
                if (ok == StackByte.Invalid) continue;
                byte ck = b < cf.Kinds.Length ? cf.Kinds[b] : StackByte.Invalid;
                if (!precise && ok is StackByte.Misc or StackByte.Zero || ok == StackByte.Spill && of.Spills[b / 8].IsScalar && !precise)
                {
                    if (ck is StackByte.Misc or StackByte.Zero) continue;
                    if (ck == StackByte.Spill && cf.Spills[b / 8].IsScalar) continue;
                    return false;
                }
                if (ok == StackByte.Misc)
                {
                    if (ck is StackByte.Misc or StackByte.Zero) continue;
                    if (ck == StackByte.Spill && cf.Spills[b / 8].IsScalar) continue;
                    return false;
                }
                if (ok == StackByte.Zero)
                {
                    if (ck == StackByte.Zero) continue;
                    if (ck == StackByte.Spill && cf.Spills[b / 8].IsNull) continue;
                    return false;
                }
                if (ck != StackByte.Spill) return false;
                if (b % 8 == 0 && !RegSafe(of.Spills[b / 8], cf.Spills[b / 8], ids, precise)) return false;
            }
        }
        return true;
    }

    private static bool IdMatch(List<(int Old, int Cur)> ids, int o, int c)
    {
        if (o == 0 && c == 0) return true;
        if (o == 0 || c == 0) return false;
        foreach (var (io, ic) in ids)
        {
            if (io == o) return ic == c;
            if (ic == c) return false;
        }
        ids.Add((o, c));
        return true;
    }

    private static bool RangeWithin(in Reg o, in Reg c) =>
        o.Var.Contains(c.Var) && o.SMin <= c.SMin && o.SMax >= c.SMax && o.UMin <= c.UMin && o.UMax >= c.UMax;

    private static bool RegSafe(in Reg o, in Reg c, List<(int, int)> ids, bool precise)
    {
        if (o.Type == RegType.NotInit) return true;
        if (o.Type != c.Type) return false;
        switch (o.Type)
        {
            case RegType.Scalar:
                return !precise || RangeWithin(o, c);
            case RegType.MapValueOrNull or RegType.RingbufMemOrNull or RegType.RingbufMem or RegType.BtfIdOrNull or RegType.RdonlyMemOrNull:
                return o.Off == c.Off && o.Map == c.Map && o.MemSize == c.MemSize && RangeWithin(o, c)
                    && IdMatch(ids, o.Id, c.Id) && IdMatch(ids, o.RefId, c.RefId);
            default:
                return o.Off == c.Off && o.Map == c.Map && o.Frame == c.Frame && o.MemSize == c.MemSize && o.BtfType == c.BtfType && RangeWithin(o, c);
        }
    }

    // ---- one instruction ----------------------------------------------------------------------------

    private ref Reg R(int r) => ref _cur.R[r];

    private void ReadReg(int r)
    {
        if (_cur.R[r].Type == RegType.NotInit) throw Access($"R{r} !read_ok");
    }

    /// <summary>Executes _insns[_pc] on the current state; false when the path ended.</summary>
    private bool Step()
    {
        var ins = _insns[_pc];
        int cls = ins.Opcode & 7;
        switch (cls)
        {
            case Op.ALU:
            case Op.ALU64:
                Alu(ins, cls == Op.ALU64);
                _cur.Pc = _pc + 1;
                return true;
            case Op.LDX:
                ReadReg(ins.Src);
                R(ins.Dst) = Load(ins.Src, ins.Offset, Op.SizeBytes(ins.Opcode), (ins.Opcode & 0xe0) == Op.MEMSX);
                _cur.Pc = _pc + 1;
                return true;
            case Op.STX:
                if ((ins.Opcode & 0xe0) == Op.ATOMIC) { Atomic(ins); _cur.Pc = _pc + 1; return true; }
                ReadReg(ins.Src);
                ReadReg(ins.Dst);
                Store(ins.Dst, ins.Offset, Op.SizeBytes(ins.Opcode), _cur.R[ins.Src], isImm: false);
                _cur.Pc = _pc + 1;
                return true;
            case Op.ST:
                ReadReg(ins.Dst);
                Store(ins.Dst, ins.Offset, Op.SizeBytes(ins.Opcode), Reg.Known((ulong)(long)ins.Imm), isImm: true);
                _cur.Pc = _pc + 1;
                return true;
            case Op.LD:
                if (ins.Opcode == Op.LDDW) { LdImm64(ins, _insns[_pc + 1]); _cur.Pc = _pc + 2; return true; }
                if (_prog.Type != BpfProgramType.SocketFilter)
                    throw Fail(Errno.EINVAL, "BPF_LD_[ABS|IND] instructions not allowed for this program type");
                for (int r = 1; r <= 5; r++) R(r) = default;
                R(0) = Reg.Unknown();
                _cur.Pc = _pc + 1;
                return true;
            default:
                return Jump(ins, cls == Op.JMP32);
        }
    }

    private void LdImm64(BpfInsn lo, BpfInsn hi)
    {
        ref Reg d = ref R(lo.Dst);
        switch (lo.Src)
        {
            case Op.PSEUDO_MAP_FD or Op.PSEUDO_MAP_IDX:
                d = Reg.Ptr(RegType.MapPtr);
                d.Map = lo.Imm;
                break;
            case Op.PSEUDO_MAP_VALUE or Op.PSEUDO_MAP_IDX_VALUE:
                d = Reg.Ptr(RegType.MapValue, hi.Imm);
                d.Map = lo.Imm;
                break;
            case Op.PSEUDO_FUNC:
                d = Reg.Ptr(RegType.Func);
                d.MemSize = _pc + 1 + lo.Imm; // the callback's first instruction
                break;
            case Op.PSEUDO_BTF_ID:
                d = TypedKsymReg(lo.Imm);
                break;
            case Op.PSEUDO_KSYM_IDX:
                // a typeless __ksym's address: a scalar the kernel sees as a constant; which one depends
                // on the host, and the verdict is kept per program, so every value is explored
                d = Reg.Unknown();
                break;
            default:
                d = Reg.Known((uint)lo.Imm | ((ulong)(uint)hi.Imm << 32));
                break;
        }
    }

    // ---- ALU (check_alu_op, adjust_reg_min_max_vals, adjust_ptr_min_max_vals) ----------------------

    private static readonly string[] AluStr = ["+=", "-=", "*=", "/=", "|=", "&=", "<<=", ">>=", "neg", "%=", "^=", "=", "s>>=", "endian"];

    private void Alu(BpfInsn ins, bool is64)
    {
        int aop = ins.Opcode & 0xf0;
        bool x = (ins.Opcode & Op.X) != 0;
        int dst = ins.Dst;
        if (aop is Op.NEG or Op.END)
        {
            ReadReg(dst);
            ref Reg d = ref R(dst);
            bool swap = is64 || x;
            if (aop == Op.END && !swap && ins.Imm == 64 && d.IsScalar) return; // to-le 64 on a little-endian machine
            if (d.IsConst) d = Reg.Known(ConstAlu(ins, d.Var.Value, 0));
            else if (aop == Op.NEG) d = is64 ? Reg.Unknown() : Reg.UnknownBytes(4);
            else d = ins.Imm == 64 ? Reg.Unknown() : Reg.UnknownBytes(ins.Imm / 8);
            return;
        }
        if (aop == Op.MOV)
        {
            if (x)
            {
                ReadReg(ins.Src);
                var s = _cur.R[ins.Src];
                if (ins.Offset != 0)
                {
                    R(dst) = s.IsConst ? Reg.Known(ConstAlu(ins, 0, s.Var.Value)) : SignedUnknown(ins.Offset / 8, is64);
                    return;
                }
                if (is64) { R(dst) = s; return; }
                R(dst) = s.IsScalar ? Trunc32(s) : Reg.UnknownBytes(4);
                return;
            }
            R(dst) = Reg.Known(is64 ? (ulong)(long)ins.Imm : (uint)ins.Imm);
            return;
        }
        if (x) ReadReg(ins.Src);
        ReadReg(dst);
        if (aop is Op.DIV or Op.MOD && !x && ins.Imm == 0) throw Fail(Errno.EINVAL, "div by zero");
        if (aop is Op.LSH or Op.RSH or Op.ARSH && !x && (ins.Imm < 0 || ins.Imm >= (is64 ? 64 : 32)))
            throw Fail(Errno.EINVAL, $"invalid shift {ins.Imm}");
        Reg src = x ? _cur.R[ins.Src] : Reg.Known(is64 ? (ulong)(long)ins.Imm : (uint)ins.Imm);
        Reg dv = _cur.R[dst];
        if (dv.IsPointer || src.IsPointer)
        {
            if (dv.IsScalar || src.IsScalar && x) DemandPrecision();
            R(dst) = PtrAlu(ins, dst, dv, src, is64, aop);
            return;
        }
        R(dst) = ScalarAlu(ins, dv, src, is64, aop);
    }

    private static Reg SignedUnknown(int bytes, bool is64)
    {
        long lo = -(1L << (bytes * 8 - 1)), hi = (1L << (bytes * 8 - 1)) - 1;
        var r = Reg.Unknown();
        r.SMin = lo;
        r.SMax = hi;
        r.Sync();
        return is64 ? r : Trunc32(r);
    }

    private string Alu(int aop) => AluStr[aop >> 4];

    private Reg PtrAlu(BpfInsn ins, int dst, Reg d, Reg s, bool is64, int aop)
    {
        if (d.IsPointer && s.IsPointer)
        {
            if (aop == Op.SUB) return Reg.Unknown(); // allow_ptr_leaks: the difference is a scalar
            throw Access($"R{dst} pointer {Alu(aop)} pointer prohibited");
        }
        Reg ptr = d.IsPointer ? d : s, off = d.IsPointer ? s : d;
        if (!is64)
        {
            if (aop == Op.SUB) return Reg.UnknownBytes(4);
            throw Access($"R{dst} 32-bit pointer arithmetic prohibited");
        }
        if (ptr.MaybeNull) throw Access($"R{dst} pointer arithmetic on {Names.Of(ptr.Type)} prohibited, null-check it first");
        bool known = off.IsConst;
        if (ptr.Type == RegType.MapPtr && !(known && off.Var.Value == 0 && aop == Op.ADD))
            throw Access($"R{dst} pointer arithmetic on map_ptr prohibited");
        switch (aop)
        {
            case Op.ADD:
            case Op.SUB:
            {
                if (aop == Op.SUB && !d.IsPointer) throw Access($"R{dst} tried to subtract pointer from scalar");
                // check_reg_sane_offset
                string tn = Names.Of(ptr.Type);
                if (known && Math.Abs((long)off.Var.Value) >= MaxVarOff)
                    throw Fail(Errno.EINVAL, $"math between {tn} pointer and {(long)off.Var.Value} is not allowed");
                if (!known && off.SMin == long.MinValue)
                    throw Fail(Errno.EINVAL, $"math between {tn} pointer and register with unbounded min value is not allowed");
                if (!known && (off.SMin >= MaxVarOff || off.SMin <= -MaxVarOff))
                    throw Fail(Errno.EINVAL, $"value {off.SMin} makes {tn} pointer be out of bounds");
                var r = ptr;
                if (known)
                {
                    long c = (long)off.Var.Value;
                    long n = aop == Op.ADD ? r.Off + c : r.Off - c;
                    if (n is >= MaxVarOff or <= -MaxVarOff) throw Fail(Errno.EINVAL, $"{tn} pointer offset {n} is not allowed");
                    r.Off = (int)n;
                    return r;
                }
                // variable part: add (or subtract) the scalar's range
                var v = ScalarAlu(ins, VarPart(r), off, true, aop);
                r.Var = v.Var; r.SMin = v.SMin; r.SMax = v.SMax; r.UMin = v.UMin; r.UMax = v.UMax;
                return r;
            }
            case Op.AND or Op.OR or Op.XOR:
                throw Access($"R{dst} bitwise operator {Alu(aop)} on pointer prohibited");
            default:
                throw Access($"R{dst} pointer arithmetic with {Alu(aop)} operator prohibited");
        }
    }

    private static Reg VarPart(Reg p) => new() { Type = RegType.Scalar, Var = p.Var, SMin = p.SMin, SMax = p.SMax, UMin = p.UMin, UMax = p.UMax };

    /// <summary>The low 32 bits of a scalar, zero-extended.</summary>
    private static Reg Trunc32(Reg a)
    {
        if (a.UMax <= uint.MaxValue) return a;
        var r = new Reg { Type = RegType.Scalar, Var = a.Var.Cast(4), SMin = 0, SMax = uint.MaxValue, UMin = 0, UMax = uint.MaxValue };
        r.Sync();
        return r;
    }

    private static Reg ScalarAlu(BpfInsn ins, Reg a, Reg b, bool is64, int aop)
    {
        if (a.IsConst && b.IsConst) return Reg.Known(ConstAlu(ins, a.Var.Value, b.Var.Value));
        if (!is64) { a = Trunc32(a); b = Trunc32(b); }
        int bits = is64 ? 64 : 32;
        bool signedOp = ins.Offset == 1 && aop is Op.DIV or Op.MOD;
        var r = Reg.Unknown();
        switch (aop)
        {
            case Op.ADD:
                r.Var = a.Var + b.Var;
                if (a.UMax <= ulong.MaxValue - b.UMax) { r.UMin = a.UMin + b.UMin; r.UMax = a.UMax + b.UMax; }
                if (!AddOverflows(a.SMin, b.SMin) && !AddOverflows(a.SMax, b.SMax)) { r.SMin = a.SMin + b.SMin; r.SMax = a.SMax + b.SMax; }
                break;
            case Op.SUB:
                r.Var = a.Var - b.Var;
                if (a.UMin >= b.UMax) { r.UMin = a.UMin - b.UMax; r.UMax = a.UMax - b.UMin; }
                if (!SubOverflows(a.SMin, b.SMax) && !SubOverflows(a.SMax, b.SMin)) { r.SMin = a.SMin - b.SMax; r.SMax = a.SMax - b.SMin; }
                break;
            case Op.AND:
                r.Var = a.Var & b.Var;
                r.UMax = Math.Min(a.UMax, b.UMax);
                if (a.SMin >= 0 && b.SMin >= 0) { r.SMin = 0; r.SMax = Math.Min(a.SMax, b.SMax); }
                else if (a.SMin >= 0) { r.SMin = 0; r.SMax = a.SMax; }
                else if (b.SMin >= 0) { r.SMin = 0; r.SMax = b.SMax; }
                break;
            case Op.OR:
                r.Var = a.Var | b.Var;
                r.UMin = Math.Max(a.UMin, b.UMin);
                break;
            case Op.XOR:
                r.Var = a.Var ^ b.Var;
                break;
            case Op.MUL:
                r.Var = Tnum.Mul(a.Var, b.Var);
                if (a.UMax <= uint.MaxValue && b.UMax <= uint.MaxValue) { r.UMin = a.UMin * b.UMin; r.UMax = a.UMax * b.UMax; }
                break;
            case Op.LSH:
                if (b.IsConst)
                {
                    int k = (int)(b.Var.Value & (ulong)(bits - 1));
                    r.Var = a.Var.Lsh(k);
                    if (a.UMax <= ulong.MaxValue >> k) { r.UMin = a.UMin << k; r.UMax = a.UMax << k; }
                }
                break;
            case Op.RSH:
                if (b.IsConst)
                {
                    int k = (int)(b.Var.Value & (ulong)(bits - 1));
                    r.Var = a.Var.Rsh(k);
                    r.UMin = a.UMin >> k;
                    r.UMax = a.UMax >> k;
                }
                else { r.UMax = a.UMax; r.Var = Tnum.Range(0, a.UMax); }
                break;
            case Op.ARSH:
                if (b.IsConst && is64)
                {
                    int k = (int)(b.Var.Value & 63);
                    r.Var = a.Var.Arsh(k);
                    r.SMin = a.SMin >> k;
                    r.SMax = a.SMax >> k;
                }
                break;
            case Op.DIV when !signedOp:
                if (b.IsConst && b.Var.Value != 0) { r.UMin = a.UMin / b.Var.Value; r.UMax = a.UMax / b.Var.Value; }
                else if (b.IsConst) return Reg.Known(0);
                else r.UMax = a.UMax;
                break;
            case Op.MOD when !signedOp:
                if (b.IsConst && b.Var.Value != 0) r.UMax = Math.Min(a.UMax, b.Var.Value - 1);
                else if (b.IsConst) return a;
                else r.UMax = a.UMax;
                break;
        }
        r.Sync();
        if (!is64)
        {
            r.Var = r.Var.Cast(4);
            if (r.UMax > uint.MaxValue || r.UMin > r.UMax) { r.UMin = 0; r.UMax = uint.MaxValue; }
            r.SMin = (long)r.UMin;
            r.SMax = (long)r.UMax;
            r.Sync();
        }
        return r;
    }

    private static bool AddOverflows(long a, long b) => b > 0 ? a > long.MaxValue - b : a < long.MinValue - b;
    private static bool SubOverflows(long a, long b) => b < 0 ? a > long.MaxValue + b : a < long.MinValue + b;

    /// <summary>An ALU instruction on known operands, with the interpreter's semantics (docs/ebpf-isa.md §1).</summary>
    internal static ulong ConstAlu(BpfInsn ins, ulong a, ulong b)
    {
        bool is64 = (ins.Opcode & 7) == Op.ALU64;
        int aop = ins.Opcode & 0xf0;
        bool sgn = ins.Offset == 1;
        if (aop == Op.MOV)
        {
            // movsx: off = source bits
            ulong v = ins.Offset switch { 8 => (ulong)(long)(sbyte)b, 16 => (ulong)(long)(short)b, 32 => (ulong)(long)(int)b, _ => b };
            return is64 ? v : (uint)v;
        }
        if (aop == Op.END)
        {
            bool swap = is64 || (ins.Opcode & Op.X) != 0;
            ulong v = ins.Imm switch { 16 => (ushort)a, 32 => (uint)a, _ => a };
            if (!swap) return v;
            return ins.Imm switch
            {
                16 => BinaryPrimitives.ReverseEndianness((ushort)a),
                32 => BinaryPrimitives.ReverseEndianness((uint)a),
                _ => BinaryPrimitives.ReverseEndianness(a),
            };
        }
        if (is64)
        {
            return aop switch
            {
                Op.ADD => a + b, Op.SUB => a - b, Op.MUL => a * b, Op.OR => a | b, Op.AND => a & b, Op.XOR => a ^ b,
                Op.LSH => a << (int)(b & 63), Op.RSH => a >> (int)(b & 63), Op.ARSH => (ulong)((long)a >> (int)(b & 63)),
                Op.NEG => (ulong)-(long)a,
                Op.DIV => sgn ? (b == 0 ? 0 : (long)b == -1 ? (ulong)-(long)a : (ulong)((long)a / (long)b)) : (b == 0 ? 0 : a / b),
                Op.MOD => sgn ? (b == 0 ? a : (long)b == -1 ? 0 : (ulong)((long)a % (long)b)) : (b == 0 ? a : a % b),
                _ => 0,
            };
        }
        uint x = (uint)a, y = (uint)b;
        uint r = aop switch
        {
            Op.ADD => x + y, Op.SUB => x - y, Op.MUL => x * y, Op.OR => x | y, Op.AND => x & y, Op.XOR => x ^ y,
            Op.LSH => x << (int)(y & 31), Op.RSH => x >> (int)(y & 31), Op.ARSH => (uint)((int)x >> (int)(y & 31)),
            Op.NEG => (uint)-(int)x,
            Op.DIV => sgn ? (y == 0 ? 0 : (int)y == -1 ? (uint)-(int)x : (uint)((int)x / (int)y)) : (y == 0 ? 0 : x / y),
            Op.MOD => sgn ? (y == 0 ? x : (int)y == -1 ? 0 : (uint)((int)x % (int)y)) : (y == 0 ? x : x % y),
            _ => 0,
        };
        return r;
    }

    // ---- memory (check_mem_access) ----------------------------------------------------------------

    private Reg Load(int regno, int insnOff, int size, bool signExtend)
    {
        var p = _cur.R[regno];
        Reg v = Access(regno, p, insnOff, size, write: false, value: default);
        if (!signExtend || !v.IsScalar) return v;
        if (v.IsConst)
            return Reg.Known(size switch { 1 => (ulong)(long)(sbyte)v.Var.Value, 2 => (ulong)(long)(short)v.Var.Value, _ => (ulong)(long)(int)v.Var.Value });
        return SignedUnknown(size, true);
    }

    private void Store(int regno, int insnOff, int size, Reg value, bool isImm)
    {
        var p = _cur.R[regno];
        Access(regno, p, insnOff, size, write: true, value, isImm);
    }

    private void Atomic(BpfInsn ins)
    {
        ReadReg(ins.Src);
        ReadReg(ins.Dst);
        if (ins.Imm == Op.CMPXCHG) ReadReg(0);
        var p = _cur.R[ins.Dst];
        if (p.Type is RegType.Ctx)
            throw Access($"BPF_ATOMIC stores into R{ins.Dst} {Names.Of(p.Type)} is not allowed");
        int size = Op.SizeBytes(ins.Opcode);
        bool fetch = (ins.Imm & Op.FETCH) != 0;
        if (fetch || ins.Imm is Op.XCHG or Op.CMPXCHG) Access(ins.Dst, p, ins.Offset, size, write: false, default);
        Access(ins.Dst, p, ins.Offset, size, write: true, Reg.Unknown());
        if (ins.Imm == Op.CMPXCHG) R(0) = Reg.UnknownBytes(size);
        else if (fetch) R(ins.Src) = Reg.UnknownBytes(size);
    }

    // check_pseudo_btf_id: a per-CPU VAR is PTR_TO_BTF_ID | MEM_PERCPU (for bpf_this_cpu_ptr /
    // bpf_per_cpu_ptr), a struct VAR PTR_TO_BTF_ID; Map keeps the typed __ksym for messages.
    private Reg TypedKsymReg(int btfId)
    {
        var list = _prog.TypedKsyms;
        int i = 0;
        while (i < list.Count && list[i].BtfId != btfId) i++;
        if (i == list.Count) throw Fail(Errno.ENOENT, $"ldimm64 insn specifies invalid btf_id {btfId}.");
        var k = list[i];
        if (!k.PerCpu && !k.IsStruct) return Reg.Unknown(); // PTR_TO_MEM | MEM_RDONLY: not modelled, an address
        var r = Reg.Ptr(k.PerCpu ? RegType.PercpuBtfId : RegType.BtfId);
        r.Map = i;
        return r;
    }

    private Reg Access(int regno, Reg p, int insnOff, int size, bool write, Reg value, bool isImm = false)
    {
        switch (p.Type)
        {
            case RegType.PercpuBtfId:
                // check_ptr_to_btf_access: per-CPU memory is reached through bpf_this_cpu_ptr / bpf_per_cpu_ptr only
                throw Access($"R{regno} is ptr_{_prog.TypedKsyms[p.Map].TypeName} access percpu memory: off={p.Off + insnOff}");
            case RegType.Stack:
                return StackAccess(regno, p, insnOff, size, write, value, isImm);
            case RegType.Ctx:
            {
                if (p.Off < 0) throw Access($"negative offset ctx ptr R{regno} off={p.Off} disallowed");
                if (p.Off != 0) throw Access($"dereference of modified ctx ptr R{regno} off={p.Off} disallowed");
                if (!p.Var.IsConst || p.Var.Value != 0) throw Access($"variable ctx access var_off={p.Var} disallowed");
                int o = insnOff;
                bool bad = o < 0 || o + size > _ctx.Size || (write && !_ctx.Writable) || (_ctx.Aligned && o % size != 0)
                    || (_prog.Type == BpfProgramType.PerfEvent && o < ProgramTypeRules.PtRegsSize && size != 8);
                if (bad) throw Access($"invalid bpf_context access off={o} size={size}");
                if (write) return default;
                if (IterCtxArg(o, size) is { } arg) return arg;
                return ProgramTypeRules.BtfCtx(_prog.Type) && size == 8 ? Reg.Ptr(RegType.BtfId) : Reg.UnknownBytes(size);
            }
            case RegType.MapValue:
            {
                var spec = _maps[p.Map];
                int o = p.Off + insnOff;
                if (write && spec.ReadOnly) throw Access($"write into map forbidden, value_size={spec.ValueSize} off={o} size={size}");
                Region(regno, p, o, size, spec.ValueSize, "map value", zeroOk: false);
                if (write) return default;
                if (spec.ReadOnly && spec.InitialValue is { } iv && p.Var.IsConst && size is 1 or 2 or 4 or 8)
                {
                    int at = o + (int)p.Var.Value;
                    if (at >= 0 && at + size <= iv.Length)
                    {
                        // bpf_map_direct_read: a frozen read-only map's bytes are known at load.
                        ulong v = size switch
                        {
                            1 => iv[at],
                            2 => BinaryPrimitives.ReadUInt16LittleEndian(iv.AsSpan(at)),
                            4 => BinaryPrimitives.ReadUInt32LittleEndian(iv.AsSpan(at)),
                            _ => BinaryPrimitives.ReadUInt64LittleEndian(iv.AsSpan(at)),
                        };
                        return Reg.Known(v);
                    }
                }
                return Reg.UnknownBytes(size);
            }
            case RegType.RingbufMem:
                Region(regno, p, p.Off + insnOff, size, p.MemSize, "memory", zeroOk: false);
                return write ? default : Reg.UnknownBytes(size);
            case RegType.RdonlyMem:
                return RdonlyMemAccess(regno, p, insnOff, size, write);
            case RegType.BtfId:
                return PtrToBtfAccess(regno, p, insnOff, size, write);
            case RegType.NotInit:
                throw Access($"R{regno} !read_ok");
            default:
                throw Access($"R{regno} invalid mem access '{(p.Trusted ? "trusted_" : "")}{Names.Of(p.Type)}'");
        }
    }

    /// <summary>check_mem_region_access: the pointer's fixed offset plus every value of its variable part.</summary>
    private void Region(int regno, in Reg p, int off, int size, int memSize, string kind, bool zeroOk)
    {
        if (p.SMin < 0 && (p.SMin == long.MinValue || off + p.SMin != (int)(off + p.SMin) || p.SMin + off < 0))
            throw Access($"R{regno} min value is negative, either use unsigned index or do a if (index >=0) check.");
        if (!InMem(p.SMin + off, size, memSize, zeroOk))
        {
            _notes.Add(RegionNote(kind, memSize, p.SMin + off, size));
            throw Access($"R{regno} min value is outside of the allowed memory range");
        }
        if (p.UMax >= MaxVarOff)
            throw Access($"R{regno} unbounded memory access, make sure to bounds check any such access");
        if (!InMem((long)p.UMax + off, size, memSize, zeroOk))
        {
            _notes.Add(RegionNote(kind, memSize, (long)p.UMax + off, size));
            throw Access($"R{regno} max value is outside of the allowed memory range");
        }
    }

    private static bool InMem(long off, int size, int memSize, bool zeroOk) =>
        off >= 0 && (size > 0 || (size == 0 && zeroOk)) && off + size <= memSize;

    private static string RegionNote(string kind, int memSize, long off, int size) => kind == "map value"
        ? $"invalid access to map value, value_size={memSize} off={off} size={size}"
        : $"invalid access to memory, mem_size={memSize} off={off} size={size}";

    private Reg StackAccess(int regno, Reg p, int insnOff, int size, bool write, Reg value, bool isImm)
    {
        var frame = _cur.Frames[p.Frame];
        long lo = p.Off + insnOff + p.SMin, hi = p.Off + insnOff + p.SMax;
        bool constOff = p.Var.IsConst;
        if (constOff) lo = hi = p.Off + insnOff + (long)p.Var.Value;
        if (lo < -MaxStack || hi + size > 0)
        {
            string extra = write ? " write to" : " read from";
            if (constOff) throw Access($"invalid{extra} stack R{regno} off={lo} size={size}");
            throw Access($"invalid variable-offset{extra} stack R{regno} var_off={p.Var} off={insnOff} size={size}");
        }
        int o = (int)lo;
        Deepen(frame, lo);
        if (write)
        {
            frame.Grow(-(int)lo);
            if (constOff && size == 8 && o % 8 == 0)
            {
                // save_register_state: a whole aligned slot keeps the register (pointer or scalar)
                if (isImm && value.IsNull) MarkBytes(frame, o, 8, StackByte.Zero);
                else Spill(frame, o, value);
                return default;
            }
            if (value.IsPointer && constOff) throw Access("invalid size of register spill");
            MarkBytes(frame, o, (int)(hi - lo) + size, constOff && value.IsNull ? StackByte.Zero : StackByte.Misc);
            return default;
        }
        // read
        if (constOff && size == 8 && o % 8 == 0 && frame.Kind(o) == StackByte.Spill)
            return frame.Spills[(-o - 1) / 8];
        bool allZero = true;
        for (long b = lo; b < hi + size; b++)
        {
            byte k = frame.Kind((int)b);
            if (k == StackByte.Spill)
            {
                var sp = frame.Spills[(-(int)b - 1) / 8];
                if (!sp.IsScalar) throw Access("invalid size of register fill");
                if (!sp.IsNull) allZero = false;
                continue;
            }
            if (k == StackByte.Invalid)
            {
                if (!_opt.AllowUninitStack)
                {
                    if (constOff) throw Access($"invalid read from stack off {o}+{b - lo} size {size}");
                    throw Access($"invalid variable-offset read from stack R{regno} var_off={p.Var} off={insnOff} size={size}");
                }
                allZero = false;
                continue;
            }
            if (k != StackByte.Zero) allZero = false;
        }
        return allZero ? Reg.Known(0) : Reg.UnknownBytes(size);
    }

    private static void Spill(FrameState f, int o, Reg value)
    {
        int slot = (-o - 1) / 8;
        f.Spills[slot] = value;
        for (int i = 0; i < 8; i++) f.Kinds[-o - 1 - i] = StackByte.Spill;
    }

    /// <summary>Bytes [o, o+n) become kind; a spill they touch is broken into plain bytes first.</summary>
    private static void MarkBytes(FrameState f, int o, int n, byte kind)
    {
        f.Grow(-o);
        for (int b = o; b < o + n; b++)
        {
            int i = -b - 1;
            if (f.Kinds[i] == StackByte.Spill)
            {
                int slot = i / 8;
                byte k = f.Spills[slot].IsNull ? StackByte.Zero : StackByte.Misc;
                for (int j = slot * 8; j < slot * 8 + 8; j++) f.Kinds[j] = k;
                f.Spills[slot] = default;
            }
            f.Kinds[i] = kind;
        }
    }

    // ---- jumps, calls, exit -------------------------------------------------------------------------

    private bool Jump(BpfInsn ins, bool is32)
    {
        int jop = ins.Opcode & 0xf0;
        _jumps++;
        switch (jop)
        {
            case Op.JA:
                _cur.Pc = _pc + 1 + (is32 ? ins.Imm : ins.Offset);
                return true;
            case Op.EXIT:
                return Exit();
            case Op.CALL:
                if ((ins.Opcode & Op.X) != 0) throw Fail(Errno.EINVAL, "BPF_CALL uses reserved fields");
                if (ins.Src == Op.CALL_LOCAL) { CallLocal(_pc + 1 + ins.Imm); return true; }
                HelperCall(ins.Imm);
                _cur.Pc = _pc + 1;
                return true;
        }
        CondJump(ins, is32, jop);
        return true;
    }

    private void CallLocal(int target)
    {
        if (_cur.Cur + 1 >= MaxFrames) throw Fail(Errno.E2BIG, $"the call stack of {_cur.Cur + 2} frames is too deep");
        var caller = _cur.F;
        var callee = new FrameState { CallSite = _pc, FrameNo = _cur.Cur + 1, Func = target };
        for (int r = 1; r <= 5; r++) callee.Regs[r] = caller.Regs[r];
        callee.Regs[10] = Reg.Ptr(RegType.Stack);
        callee.Regs[10].Frame = (byte)callee.FrameNo;
        for (int r = 0; r <= 5; r++) caller.Regs[r] = default;
        _cur.Frames[++_cur.Cur] = callee;
        _cur.Pc = target;
    }

    private bool Exit()
    {
        var f = _cur.F;
        // check_reference_leak: the main program and callbacks must release what they acquired.
        if (_cur.Cur == 0 || f.InCallback)
        {
            if (_cur.Refs.Count > 0)
            {
                for (int i = 0; i < _cur.Refs.Count - 1; i++)
                    _notes.Add($"Unreleased reference id={_cur.Refs[i].Id} alloc_insn={_cur.Refs[i].Insn}");
                var last = _cur.Refs[^1];
                throw Fail(Errno.EINVAL, $"Unreleased reference id={last.Id} alloc_insn={last.Insn}");
            }
        }
        if (f.InCallback)
        {
            DemandPrecision();
            var r0 = f.Regs[0];
            if (r0.Type != RegType.Scalar) throw Access("R0 not a scalar value");
            if (r0.SMin < 0 || r0.SMax > 1) throw Fail(Errno.EINVAL, InvalidScalar("At callback return", r0, 0, 1));
            return false; // the caller's path after the call is explored on its own
        }
        if (_cur.Cur > 0)
        {
            var r0 = f.Regs[0];
            _cur.Frames[_cur.Cur] = null!;
            _cur.Cur--;
            _cur.F.Regs[0] = r0;
            _cur.Pc = f.CallSite + 1;
            return true;
        }
        ReadReg(0);
        if (ProgramTypeRules.ReturnRange(_prog.Type, _prog.Section) is { } range)
        {
            DemandPrecision();
            var r0 = f.Regs[0];
            if (r0.Type != RegType.Scalar)
                throw Fail(Errno.EINVAL, $"At program exit the register R0 is not a known value ({Names.Of(r0.Type)})");
            if (r0.SMin < range.Min || r0.SMax > range.Max)
                throw Fail(Errno.EINVAL, InvalidScalar("At program exit", r0, range.Min, range.Max));
        }
        return false;
    }

    private static string InvalidScalar(string ctx, in Reg r, int min, int max)
    {
        var sb = new StringBuilder($"{ctx} the register R0 has");
        bool unknown = true;
        if (r.SMin > long.MinValue) { sb.Append(" smin=").Append(r.SMin); unknown = false; }
        if (r.SMax < long.MaxValue) { sb.Append(" smax=").Append(r.SMax); unknown = false; }
        if (unknown) sb.Append(" unknown scalar value");
        sb.Append($" should have been in [{min}, {max}]");
        return sb.ToString();
    }

    private void CondJump(BpfInsn ins, bool is32, int jop)
    {
        bool x = (ins.Opcode & Op.X) != 0;
        if (x) ReadReg(ins.Src);
        ReadReg(ins.Dst);
        int target = _pc + 1 + ins.Offset;
        var d = _cur.R[ins.Dst];
        var s = x ? _cur.R[ins.Src] : Reg.Known(is32 ? (uint)ins.Imm : (ulong)(long)ins.Imm);

        // NULL check of a maybe-NULL pointer: each branch learns which it is.
        if (!x && !is32 && ins.Imm == 0 && jop is Op.JEQ or Op.JNE && d.MaybeNull)
        {
            var other = _cur.Clone();
            other.Pc = target;
            MarkNull(other, d.Id, isNull: jop == Op.JEQ);
            MarkNull(_cur, d.Id, isNull: jop == Op.JNE);
            Push(other);
            _cur.Pc = _pc + 1;
            return;
        }
        int taken = BranchTaken(d, s, jop, is32);
        if (taken >= 0 && (d.IsScalar || s.IsScalar)) DemandPrecision();
        if (taken == 1) { _cur.Pc = target; return; }
        if (taken == 0) { _cur.Pc = _pc + 1; return; }
        var branch = _cur.Clone();
        branch.Pc = target;
        bool okTaken = Refine(branch, ins, is32, jop, true);
        bool okFall = Refine(_cur, ins, is32, jop, false);
        if (okTaken && okFall) Push(branch);
        else if (okTaken) { _cur = ReplaceCur(branch); return; }
        _cur.Pc = _pc + 1;
    }

    private VState ReplaceCur(VState s)
    {
        s.Parent = _cur.Parent;
        return s;
    }

    private static void MarkNull(VState st, int id, bool isNull)
    {
        if (isNull)
        {
            // the NULL branch holds nothing: release the reference the reservation took
            st.Refs.RemoveAll(r => r.Id == id);
        }
        st.ForEachReg(r =>
        {
            if (!r.MaybeNull || r.Id != id) return r;
            if (isNull) return Reg.Known(0);
            r.Type = r.Type switch
            {
                RegType.MapValueOrNull => RegType.MapValue,
                RegType.BtfIdOrNull => RegType.BtfId,
                RegType.RdonlyMemOrNull => RegType.RdonlyMem,
                _ => RegType.RingbufMem,
            };
            return r;
        });
    }

    private static bool NonNullPtr(in Reg r) => r.Type is RegType.Ctx or RegType.Stack or RegType.MapPtr or RegType.MapValue or RegType.RingbufMem or RegType.Func or RegType.RdonlyMem;

    /// <summary>is_branch_taken: 1 taken, 0 not taken, -1 either.</summary>
    private static int BranchTaken(in Reg d, in Reg s, int jop, bool is32)
    {
        if (d.IsPointer || s.IsPointer)
        {
            bool dn = NonNullPtr(d) && s.IsNull, sn = NonNullPtr(s) && d.IsNull;
            if (!is32 && (dn || sn))
            {
                if (jop == Op.JEQ) return 0;
                if (jop == Op.JNE) return 1;
            }
            return -1;
        }
        var a = is32 ? View32(d) : d;
        var b = is32 ? View32(s) : s;
        switch (jop)
        {
            case Op.JEQ:
            case Op.JNE:
            {
                int eq;
                if (a.Var.IsConst && b.Var.IsConst) eq = a.Var.Value == b.Var.Value ? 1 : 0;
                else if (a.UMin > b.UMax || a.UMax < b.UMin || a.SMin > b.SMax || a.SMax < b.SMin) eq = 0;
                else if (((a.Var.Value ^ b.Var.Value) & ~(a.Var.Mask | b.Var.Mask)) != 0) eq = 0;
                else eq = -1;
                if (eq < 0) return -1;
                return jop == Op.JEQ ? eq : 1 - eq;
            }
            case Op.JSET:
                if ((a.Var.Value & b.Var.Value) != 0) return 1;
                if ((a.Var.Max & b.Var.Max) == 0) return 0;
                return -1;
            case Op.JGT: return a.UMin > b.UMax ? 1 : a.UMax <= b.UMin ? 0 : -1;
            case Op.JGE: return a.UMin >= b.UMax ? 1 : a.UMax < b.UMin ? 0 : -1;
            case Op.JLT: return a.UMax < b.UMin ? 1 : a.UMin >= b.UMax ? 0 : -1;
            case Op.JLE: return a.UMax <= b.UMin ? 1 : a.UMin > b.UMax ? 0 : -1;
            case Op.JSGT: return a.SMin > b.SMax ? 1 : a.SMax <= b.SMin ? 0 : -1;
            case Op.JSGE: return a.SMin >= b.SMax ? 1 : a.SMax < b.SMin ? 0 : -1;
            case Op.JSLT: return a.SMax < b.SMin ? 1 : a.SMin >= b.SMax ? 0 : -1;
            case Op.JSLE: return a.SMax <= b.SMin ? 1 : a.SMin > b.SMax ? 0 : -1;
        }
        return -1;
    }

    /// <summary>A scalar's low 32 bits as a 64-bit range: unsigned, and signed as an s32.</summary>
    private static Reg View32(in Reg r)
    {
        var t = Trunc32(r);
        if (t.Var.IsConst)
        {
            var k = Reg.Known(t.Var.Value);
            k.SMin = k.SMax = (int)(uint)t.Var.Value;
            return k;
        }
        if (t.UMax > int.MaxValue) { t.SMin = int.MinValue; t.SMax = int.MaxValue; }
        return t;
    }

    private static int Negate(int jop) => jop switch
    {
        Op.JEQ => Op.JNE, Op.JNE => Op.JEQ, Op.JGT => Op.JLE, Op.JLE => Op.JGT, Op.JGE => Op.JLT, Op.JLT => Op.JGE,
        Op.JSGT => Op.JSLE, Op.JSLE => Op.JSGT, Op.JSGE => Op.JSLT, Op.JSLT => Op.JSGE, _ => -1,
    };

    /// <summary>reg_set_min_max: what the branch teaches about its scalar operands; false when it cannot be taken.</summary>
    private static bool Refine(VState st, BpfInsn ins, bool is32, int jop, bool taken)
    {
        bool x = (ins.Opcode & Op.X) != 0;
        var regs = st.R;
        Reg d = regs[ins.Dst];
        Reg s = x ? regs[ins.Src] : Reg.Known(is32 ? (uint)ins.Imm : (ulong)(long)ins.Imm);
        if (!d.IsScalar || !s.IsScalar) return true;
        if (jop == Op.JSET)
        {
            if (!taken && s.Var.IsConst && !is32)
            {
                d.Var = new Tnum(d.Var.Value & ~s.Var.Value, d.Var.Mask & ~s.Var.Value);
                d.Sync();
                regs[ins.Dst] = d;
                return d.UMin <= d.UMax && d.SMin <= d.SMax;
            }
            return true;
        }
        int op = taken ? jop : Negate(jop);
        if (is32)
        {
            // only exact when both values are known to fit in the compared 32 bits (and s32 order)
            bool signedOp = op is Op.JSGT or Op.JSGE or Op.JSLT or Op.JSLE;
            ulong lim = signedOp ? int.MaxValue : uint.MaxValue;
            if (d.UMax > lim || s.UMax > lim) return true;
        }
        switch (op)
        {
            case Op.JEQ:
            {
                var v = d.Var.Intersect(s.Var);
                d.Var = s.Var = v;
                d.UMin = s.UMin = Math.Max(d.UMin, s.UMin);
                d.UMax = s.UMax = Math.Min(d.UMax, s.UMax);
                d.SMin = s.SMin = Math.Max(d.SMin, s.SMin);
                d.SMax = s.SMax = Math.Min(d.SMax, s.SMax);
                break;
            }
            case Op.JNE:
                if (s.Var.IsConst) NotEqual(ref d, s.Var.Value);
                else if (d.Var.IsConst) NotEqual(ref s, d.Var.Value);
                break;
            case Op.JGT: Less(ref s, ref d, strict: true, signed: false); break;
            case Op.JGE: Less(ref s, ref d, strict: false, signed: false); break;
            case Op.JLT: Less(ref d, ref s, strict: true, signed: false); break;
            case Op.JLE: Less(ref d, ref s, strict: false, signed: false); break;
            case Op.JSGT: Less(ref s, ref d, strict: true, signed: true); break;
            case Op.JSGE: Less(ref s, ref d, strict: false, signed: true); break;
            case Op.JSLT: Less(ref d, ref s, strict: true, signed: true); break;
            case Op.JSLE: Less(ref d, ref s, strict: false, signed: true); break;
        }
        d.Sync();
        s.Sync();
        regs[ins.Dst] = d;
        if (x) regs[ins.Src] = s;
        return d.UMin <= d.UMax && d.SMin <= d.SMax && s.UMin <= s.UMax && s.SMin <= s.SMax && (d.Var.Value & d.Var.Mask) == 0;
    }

    private static void NotEqual(ref Reg r, ulong c)
    {
        if (r.UMin == c && r.UMin < ulong.MaxValue) r.UMin++;
        else if (r.UMax == c && r.UMax > 0) r.UMax--;
        if (r.SMin == (long)c && r.SMin < long.MaxValue) r.SMin++;
        else if (r.SMax == (long)c && r.SMax > long.MinValue) r.SMax--;
        if (r.Var.IsConst && r.Var.Value == c) { r.UMin = 1; r.UMax = 0; }
    }

    /// <summary>a &lt; b (or &lt;=): a's maximum and b's minimum move.</summary>
    private static void Less(ref Reg a, ref Reg b, bool strict, bool signed)
    {
        if (signed)
        {
            long bMax = strict ? (b.SMax == long.MinValue ? long.MinValue : b.SMax - 1) : b.SMax;
            long aMin = strict ? (a.SMin == long.MaxValue ? long.MaxValue : a.SMin + 1) : a.SMin;
            if (strict && b.SMax == long.MinValue) { a.SMin = 1; a.SMax = 0; return; }
            a.SMax = Math.Min(a.SMax, bMax);
            b.SMin = Math.Max(b.SMin, aMin);
        }
        else
        {
            if (strict && b.UMax == 0) { a.UMin = 1; a.UMax = 0; return; }
            ulong bMax = strict ? b.UMax - 1 : b.UMax;
            ulong aMin = strict ? (a.UMin == ulong.MaxValue ? ulong.MaxValue : a.UMin + 1) : a.UMin;
            a.UMax = Math.Min(a.UMax, bMax);
            b.UMin = Math.Max(b.UMin, aMin);
        }
    }

    // ---- helper calls (check_helper_call, check_func_arg) ------------------------------------------

    private const string MemTypes = "fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_";

    private struct CallMeta
    {
        public int Map;
        public int MemSize;
        public int Release;
        public int Callback;
        public int FmtMap, FmtOff;
        public bool PendingWrite;
        /// <summary>ARG_PTR_TO_PERCPU_BTF_ID's typed __ksym, index + 1 (0: none).</summary>
        public int PercpuKsym;
    }

    private void HelperCall(int id)
    {
        if (id < 0 || id >= BpfHelperNames.Count) throw Fail(Errno.EINVAL, $"invalid func unknown#{id}");
        string name = BpfHelperNames.Name(id);
        var proto = HelperProtos.Of(id);
        if (proto is null) throw Fail(Errno.EINVAL, $"unknown func {name}#{id}");
        if (!ProgramTypeRules.Offers(_prog.Type, _prog.Section, id))
            throw Fail(Errno.EINVAL, $"program of this type cannot use helper {name}#{id}");
        if (_host is not null && _host.Resolve(id, _prog.Type) is null)
            throw Fail(Errno.EINVAL, $"unknown func {name}#{id}");

        var meta = new CallMeta { Map = -1, Callback = -1, FmtMap = -1 };
        if (proto.Args.Any(a => a != HelperArg.Anything)) DemandPrecision(); // sizes, NULLs and constants decide the checks
        for (int a = 0; a < proto.Args.Length; a++) Arg(a + 1, proto.Args[a], ref meta);

        if (meta.Release != 0)
        {
            // release_reference: every copy of the released pointer becomes a scalar (allow_ptr_leaks)
            int rid = meta.Release;
            _cur.Refs.RemoveAll(r => r.Id == rid);
            _cur.ForEachReg(r => r.RefId == rid && r.IsPointer ? Reg.Unknown() : r);
        }
        if (id == HelperProtos.Snprintf) CheckSnprintf(meta);

        VState? callback = null;
        if (id == HelperProtos.Loop && meta.Callback >= 0) callback = LoopCallback(meta.Callback);

        var regs = _cur.R;
        for (int r = 0; r <= 5; r++) regs[r] = default;
        switch (proto.Ret)
        {
            case HelperRet.Integer:
                regs[0] = Reg.Unknown();
                break;
            case HelperRet.PtrToMapValueOrNull:
                regs[0] = Reg.Ptr(RegType.MapValueOrNull);
                regs[0].Map = meta.Map;
                regs[0].Id = ++_idGen;
                break;
            case HelperRet.PtrToBtfId:
                regs[0] = Reg.Ptr(RegType.BtfId);
                regs[0].BtfType = RetBtfType(proto);
                break;
            case HelperRet.PtrToMemOrBtfId or HelperRet.PtrToMemOrBtfIdOrNull:
                regs[0] = PerCpuRet(meta.PercpuKsym - 1, proto.Ret == HelperRet.PtrToMemOrBtfIdOrNull);
                break;
            case HelperRet.PtrToRingbufMemOrNull:
            {
                int rid = ++_idGen;
                regs[0] = Reg.Ptr(RegType.RingbufMemOrNull);
                regs[0].MemSize = meta.MemSize;
                regs[0].Id = regs[0].RefId = rid;
                _cur.Refs.Add((rid, _pc));
                break;
            }
        }
        MapCompatible(id, name, proto, meta.Map);
        if (id == HelperProtos.TailCall) TailCallLeak();
        // check_get_func_ip, after the arguments and the map checks as in check_helper_call
        if (id == HelperProtos.GetFuncIp && ProgramTypeRules.FuncIpRefusal(_prog.Type, _prog.Section, id) is { } why)
            throw Fail(Errno.ENOTSUPP, why);
        if (callback is not null) Push(callback);
    }

    /// <summary>The argument register for one proto argument kind (check_func_arg).</summary>
    private void Arg(int regno, HelperArg kind, ref CallMeta meta)
    {
        ReadReg(regno);
        var r = _cur.R[regno];
        if (kind == HelperArg.Anything) return;
        bool mayNull = kind is HelperArg.PtrToMemOrNull or HelperArg.PtrToUninitMemOrNull or HelperArg.PtrToStackOrNull;
        if (mayNull && r.IsNull)
        {
            if (kind is HelperArg.PtrToMemOrNull or HelperArg.PtrToUninitMemOrNull) meta.PendingWrite = false;
            return;
        }
        (bool ok, string expected) = kind switch
        {
            HelperArg.PtrToCtx => (r.Type == RegType.Ctx, "ctx"),
            HelperArg.ConstMapPtr => (r.Type == RegType.MapPtr, "map_ptr"),
            HelperArg.PtrToMapKey or HelperArg.PtrToMapValue or HelperArg.PtrToMem or HelperArg.PtrToMemOrNull or HelperArg.PtrToUninitMem
                or HelperArg.PtrToUninitMemOrNull =>
                (r.Type is RegType.Stack or RegType.MapValue or RegType.RingbufMem or RegType.BtfId, MemTypes),
            HelperArg.ConstSize or HelperArg.ConstSizeOrZero or HelperArg.ConstAllocSizeOrZero => (r.IsScalar, "scalar"),
            HelperArg.PtrToConstStr => (r.Type == RegType.MapValue, "map_value"),
            HelperArg.PtrToBtfId => (r.Type == RegType.BtfId, "ptr_, trusted_ptr_, rcu_ptr_"),
            HelperArg.PtrToRingbufMemRelease => (r.Type == RegType.RingbufMem, "ringbuf_mem"),
            HelperArg.PtrToFunc => (r.Type == RegType.Func, "func"),
            HelperArg.PtrToStackOrNull => (r.Type == RegType.Stack, "fp"),
            HelperArg.PtrToPercpuBtfId => (r.Type == RegType.PercpuBtfId, "percpu_ptr_"),
            _ => (true, ""),
        };
        if (!ok) throw Access($"R{regno} type={Names.Of(r.Type)} expected={expected}");
        switch (kind)
        {
            case HelperArg.PtrToCtx:
                if (r.Off != 0) throw Access($"dereference of modified ctx ptr R{regno} off={r.Off} disallowed");
                break;
            case HelperArg.ConstMapPtr:
                meta.Map = r.Map;
                break;
            case HelperArg.PtrToMapKey:
                if (meta.Map < 0) throw Access("invalid map_ptr to access map->key");
                HelperMem(regno, r, _maps[meta.Map].KeySize, write: false, zeroOk: false);
                break;
            case HelperArg.PtrToMapValue:
                if (meta.Map < 0) throw Access("invalid map_ptr to access map->value");
                HelperMem(regno, r, _maps[meta.Map].ValueSize, write: false, zeroOk: false);
                break;
            case HelperArg.PtrToMem or HelperArg.PtrToMemOrNull:
                meta.PendingWrite = false;
                break;
            case HelperArg.PtrToUninitMem or HelperArg.PtrToUninitMemOrNull:
                meta.PendingWrite = true;
                break;
            case HelperArg.ConstSize or HelperArg.ConstSizeOrZero:
                MemSizeReg(regno, r, kind == HelperArg.ConstSizeOrZero, meta.PendingWrite);
                break;
            case HelperArg.ConstAllocSizeOrZero:
                if (!r.Var.IsConst) throw Access($"R{regno} is not a known constant'");
                meta.MemSize = (int)r.Var.Value;
                break;
            case HelperArg.PtrToConstStr:
                ConstStr(regno, r, ref meta);
                break;
            case HelperArg.PtrToRingbufMemRelease:
                if (r.RefId == 0) throw Fail(Errno.EINVAL, $"R{regno} must be referenced when passed to release function");
                if (r.Off != 0 || !r.Var.IsConst || r.Var.Value != 0)
                    throw Access($"R{regno} must have zero offset when passed to release func or trusted arg to kfunc");
                meta.Release = r.RefId;
                break;
            case HelperArg.PtrToFunc:
                meta.Callback = r.MemSize;
                break;
            case HelperArg.PtrToPercpuBtfId:
                meta.PercpuKsym = r.Map + 1;
                break;
        }
    }

    /// <summary>check_mem_size_reg: the size must be a bounded scalar and the memory before it that long.</summary>
    private void MemSizeReg(int regno, in Reg size, bool zeroOk, bool write)
    {
        if (size.SMin < 0) throw Access($"R{regno} min value is negative, either use unsigned or 'var &= const'");
        if (size.UMin == 0 && !zeroOk) throw Access($"R{regno} invalid zero-sized read: u64=[{size.UMin},{size.UMax}]");
        if (size.UMax >= MaxVarSize) throw Access($"R{regno} unbounded memory access, use 'var &= const' or 'if (var < const)'");
        HelperMem(regno - 1, _cur.R[regno - 1], (int)size.UMax, write, zeroOk);
    }

    /// <summary>check_helper_mem_access: size bytes at the pointer, read by the helper or written by it.</summary>
    private void HelperMem(int regno, Reg p, int size, bool write, bool zeroOk)
    {
        if (p.IsNull)
        {
            if (zeroOk && size == 0) return;
            throw Access($"R{regno} type=scalar expected=fp");
        }
        switch (p.Type)
        {
            case RegType.Stack:
            {
                var frame = _cur.Frames[p.Frame];
                long lo = p.Off + p.SMin, hi = p.Off + p.SMax;
                if (p.Var.IsConst) lo = hi = p.Off + (long)p.Var.Value;
                if (size == 0 && zeroOk) return;
                if (lo < -MaxStack || hi + size > 0 || size == 0)
                {
                    if (p.Var.IsConst) throw Access($"invalid indirect access to stack R{regno} off={lo} size={size}");
                    throw Access($"invalid variable-offset indirect access to stack R{regno} var_off={p.Var} size={size}");
                }
                Deepen(frame, lo);
                if (write)
                {
                    MarkBytes(frame, (int)lo, (int)(hi - lo) + size, StackByte.Misc);
                    return;
                }
                for (long b = lo; b < hi + size; b++)
                {
                    if (frame.Kind((int)b) != StackByte.Invalid) continue;
                    if (_opt.AllowUninitStack) continue;
                    throw Access($"invalid indirect read from stack R{regno} off {lo}+{b - lo} size {size}");
                }
                return;
            }
            case RegType.MapValue:
            {
                var spec = _maps[p.Map];
                if (write && spec.ReadOnly) throw Access($"write into map forbidden, value_size={spec.ValueSize} off={p.Off} size={size}");
                Region(regno, p, p.Off, size, spec.ValueSize, "map value", zeroOk);
                return;
            }
            case RegType.RingbufMem:
                Region(regno, p, p.Off, size, p.MemSize, "memory", zeroOk);
                return;
            case RegType.BtfId:
                return;
            default:
                throw Access($"R{regno} type={Names.Of(p.Type)} expected=fp");
        }
    }

    /// <summary>check_reg_const_str: a NUL-terminated string at a constant offset of a frozen read-only map.</summary>
    private void ConstStr(int regno, in Reg r, ref CallMeta meta)
    {
        var spec = _maps[r.Map];
        if (!spec.ReadOnly) throw Access($"R{regno} does not point to a readonly map'");
        if (!r.Var.IsConst) throw Access($"R{regno} is not a constant address'");
        if (spec.InitialValue is not { } iv) throw Access("no direct value access support for this map type");
        Region(regno, r, r.Off, spec.ValueSize - r.Off, spec.ValueSize, "map value", zeroOk: false);
        int off = r.Off + (int)r.Var.Value;
        if (off < 0 || off >= iv.Length || iv.AsSpan(off, Math.Min(iv.Length, spec.ValueSize) - off).IndexOf((byte)0) < 0)
            throw Fail(Errno.EINVAL, "string is not zero-terminated");
        meta.FmtMap = r.Map;
        meta.FmtOff = off;
    }

    /// <summary>check_bpf_snprintf_call: the constant format through bpf_bprintf_prepare, as the helper will.</summary>
    private void CheckSnprintf(in CallMeta meta)
    {
        var len = _cur.R[5];
        if (len.Var.Value % 8 != 0) throw Fail(Errno.EINVAL, null);
        int numArgs = (int)(len.Var.Value / 8);
        var fmt = _maps[meta.FmtMap].InitialValue!.AsSpan(meta.FmtOff);
        var bp = new Kernel.Printk.BprintfData();
        if (Kernel.Printk.Bprintf.BprintfPrepare(fmt, default, numArgs, ref bp, null, null) < 0)
            throw Fail(Errno.EINVAL, "Invalid format string");
    }

    /// <summary>bpf_loop's callback, verified as a call: r1 the index, r2 the caller's ctx argument (r3).</summary>
    private VState LoopCallback(int target)
    {
        if (_cur.Cur + 1 >= MaxFrames) throw Fail(Errno.E2BIG, $"the call stack of {_cur.Cur + 2} frames is too deep");
        var s = _cur.Clone();
        var callee = new FrameState { CallSite = _pc, FrameNo = s.Cur + 1, InCallback = true, Func = target };
        callee.Regs[1] = Reg.UnknownBytes(4);
        callee.Regs[2] = s.R[3];
        callee.Regs[10] = Reg.Ptr(RegType.Stack);
        callee.Regs[10].Frame = (byte)callee.FrameNo;
        for (int r = 0; r <= 5; r++) s.R[r] = default;
        s.Frames[++s.Cur] = callee;
        s.Refs = []; // the callback's own references must be released inside it
        s.Pc = target;
        return s;
    }

    /// <summary>
    /// check_helper_call for bpf_tail_call: a reference still held (a ringbuf reservation) would leak,
    /// since the target never returns here; check_reference_leak lists each, then the refusal.
    /// </summary>
    private void TailCallLeak()
    {
        if (_cur.Refs.Count == 0) return;
        foreach (var (rid, insn) in _cur.Refs) _notes.Add($"Unreleased reference id={rid} alloc_insn={insn}");
        throw Fail(Errno.EINVAL, "tail_call would lead to reference leak");
    }

    /// <summary>check_map_func_compatibility, both directions, for the map types the simulator has.</summary>
    private void MapCompatible(int id, string name, HelperProto proto, int map)
    {
        if (map < 0) return;
        var t = _maps[map].Type;
        bool ok = t switch
        {
            BpfMapType.PerfEventArray => id is HelperProtos.PerfEventRead or HelperProtos.PerfEventOutput or HelperProtos.PerfEventReadValue,
            BpfMapType.RingBuf => id is HelperProtos.RingbufOutput or HelperProtos.RingbufReserve or HelperProtos.RingbufQuery,
            BpfMapType.StackTrace => id == HelperProtos.GetStackid,
            BpfMapType.ProgArray => id == HelperProtos.TailCall,
            _ => true,
        };
        ok &= proto.Map switch
        {
            HelperMap.PerfEventArray => t == BpfMapType.PerfEventArray,
            HelperMap.Ringbuf => t == BpfMapType.RingBuf,
            HelperMap.StackTrace => t == BpfMapType.StackTrace,
            HelperMap.ProgArray => t == BpfMapType.ProgArray,
            _ => true,
        };
        if (!ok) throw Fail(Errno.EINVAL, $"cannot pass map_type {(int)t} into func {name}#{id}");
    }
}
