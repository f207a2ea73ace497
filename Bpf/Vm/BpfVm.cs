using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BpfTraceSim.Bpf.Helpers;
using BpfTraceSim.Bpf.Isa;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Verifier;
using BpfTraceSim.Kernel;

namespace BpfTraceSim.Bpf.Vm;

/// <summary>
/// One program of a <see cref="BpfInstance"/>, ready to run: instructions pre-decoded with map
/// references resolved, helpers bound, a private 8-frame stack and context buffer mapped into the
/// instance's simulated kernel memory. <see cref="Run"/> interprets; <see cref="RunCompiled"/> runs
/// the IL-compiled form. Not thread-safe: one VM per program per CPU.
/// </summary>
public sealed unsafe partial class BpfVm
{
    public const int StackSize = 512;
    public const int MaxFrames = 8;
    /// <summary>Where function addresses (ld_imm64 src 4, callx targets) point: fake JIT image space.</summary>
    public const ulong CodeBase = 0xffff_ffff_a000_0000UL;
    private const int TotalStack = StackSize * MaxFrames;

    internal readonly DecodedInsn[] Code;
    internal readonly DecodedInsn* CodePtr;
    internal readonly BpfHelperFn?[] HelperFns = new BpfHelperFn?[256];
    // Helpers that reach memory only through TryGetSpan: calling one leaves the context borrowed.
    private readonly bool[] _helperSpansOnly = new bool[256];
    private readonly byte[] _stack;
    internal readonly byte* StackPtr;
    /// <summary>Call frames of the interpreter and the compiled form (return site, r6-r10 per frame).</summary>
    internal readonly ulong* FrameRecords;
    /// <summary>Where the compiled form keeps its registers across a call (see BpfIlCompiler).</summary>
    internal readonly ulong* SaveArea;
    private readonly ulong[] _compiledScratch;
    // the interpreter's executed count at a normal end (a field, so no register holds a ref to it)
    private ulong _interpCount;
    private byte[] _ctx;
    private byte* _ctxPtr;
    private ulong _ctxAddr;
    private int _ctxLen;
    // Bytes of _ctx past the current run's length that a previous, longer context left behind.
    private int _ctxDirty;
    // The run reads the caller's context bytes in place until something could write or expose
    // them (a store to ctx, a helper call): then they are copied into _ctx (copy on write).
    private bool _ctxBorrowed;
    // The last run ended without copying its context: _ctx does not hold it.
    private bool _ctxStale;
    // _regions[1] and Ctx describe the caller's bytes at _borrowedPtr (length _borrowedLen), read-only.
    private bool _viewBorrowed;
    private byte* _borrowedPtr;
    private int _borrowedLen;
    /// <summary>The current run's context as the fast paths see it (interpreter and compiled code).</summary>
    internal CtxView Ctx;
    private Region[] _regions;
    private List<BpfHelperCall>? _calls;
    private ulong _rand;
    private BpfCompiledProgram? _compiled;
    private readonly IBpfHelperHost _host;
    internal readonly TailState _tail = new();

    /// <summary>
    /// Where the run's context is and how far each access size may go: an access of n bytes at
    /// offset o is in bounds when o &lt; Rn (Rn = len - n + 1, or 0); Wn likewise for writes, 0
    /// while the caller's bytes are borrowed so that a store takes the slow path and copies first.
    /// </summary>
    internal struct CtxView
    {
        public ulong Addr;
        public byte* Ptr;
        public ulong R1, R2, R4, R8;
        public ulong W1, W2, W4, W8;

        public void Set(ulong addr, byte* ptr, int len, bool writable)
        {
            Addr = addr;
            Ptr = ptr;
            ulong l = (ulong)len;
            R1 = l; R2 = l >= 2 ? l - 1 : 0; R4 = l >= 4 ? l - 3 : 0; R8 = l >= 8 ? l - 7 : 0;
            if (writable) { W1 = R1; W2 = R2; W4 = R4; W8 = R8; }
            else W1 = W2 = W4 = W8 = 0;
        }
    }

    private struct Region
    {
        public ulong Start;
        public ulong Len;
        public byte* Ptr;
        public bool Writable;
    }

    public BpfVm(BpfInstance instance, BpfProgram program, IBpfHelperHost helpers)
    {
        Instance = instance;
        Program = program;
        Memory = instance.Memory;
        _host = helpers;
        Code = GC.AllocateArray<DecodedInsn>(program.Insns.Length, pinned: true);
        CodePtr = (DecodedInsn*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(Code));
        BpfLoadChecks.Decode(program, instance, helpers, Code, HelperFns);
        _tail.InProgram = Array.Exists(Code, d => d.Op == IOp.CALL_TAIL);
        for (int id = 0; id < _helperSpansOnly.Length; id++) _helperSpansOnly[id] = helpers.MemoryOf(id) == HelperMemory.ThroughSpans;

        _stack = GC.AllocateArray<byte>(TotalStack, pinned: true);
        StackPtr = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_stack));
        StackBase = Memory.Map(AddressSpace.Kernel, _stack);
        _compiledScratch = GC.AllocateArray<ulong>(MaxFrames * 6 + 16, pinned: true);
        FrameRecords = (ulong*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_compiledScratch));
        SaveArea = FrameRecords + MaxFrames * 6;
        _ctx = GC.AllocateArray<byte>(256, pinned: true);
        _ctxPtr = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_ctx));
        _ctxAddr = Memory.Map(AddressSpace.Kernel, _ctx);
        _regions = BuildRegions();
        ResetLoopState();
    }

    public BpfInstance Instance { get; }
    public BpfProgram Program { get; }
    public SimMemory Memory { get; }
    /// <summary>Address of the lowest byte of the 8-frame stack; frame 0's r10 is StackBase + 4096.</summary>
    public ulong StackBase { get; }
    public ulong FramePointer => StackBase + TotalStack;
    /// <summary>
    /// Where the current run's context lives (r1). After a run it holds the context only if the
    /// program wrote it or called a helper that reads memory by address (HelperMemory.ByAddress;
    /// copy on write); otherwise TryGetSpan there fails.
    /// </summary>
    public ulong ContextAddress => _ctxAddr;
    public int ContextLength => _ctxLen;
    /// <summary>The running step's CPU, task, context kind and time (helpers read it).</summary>
    public HelperContext Context => new(_cpu, _task, _contextKind, _nowNs) { PreemptDepth = _preemptDepth };
    // The context's parts: a run stores the task (a reference: a GC write barrier) only when it
    // changed, the scalars always; copying the whole struct would pay the barrier on every run.
    private int _cpu, _preemptDepth;
    private SimTask _task = SimTask.Idle;
    private ExecContext _contextKind;
    private ulong _nowNs;
    /// <summary>
    /// The CPU model the tracing helpers last resolved for this VM, with the resolver and the CPU it
    /// was for (TracingHelpers): a VM runs on one CPU, so the resolver is asked once, not per call.
    /// </summary>
    internal CpuModel? ModelCache;
    internal object? ModelCacheOwner;
    internal int ModelCacheCpu;
    /// <summary>A run stops with a fault after this many instructions (the verifier bounds real programs).</summary>
    public ulong MaxInstructions { get; set; } = 1UL << 26;
    /// <summary>Record each helper call (id, name, ret) in the result; off for benchmarks.</summary>
    public bool RecordHelperCalls { get; set; } = true;
    /// <summary>
    /// Let the compiled form run counted single-block loops without per-iteration checks when their
    /// entry proves every access and the instruction limit safe (BpfCountedLoop); set before the
    /// first compile. Off gives the ordinary compiled code, for comparing the two.
    /// </summary>
    public bool UncheckedLoops { get; set; } = true;

    private Region[] BuildRegions()
    {
        var list = new List<Region>
        {
            new() { Start = StackBase, Len = TotalStack, Ptr = StackPtr, Writable = true },
            new() { Start = _ctxAddr, Len = (ulong)_ctxLen, Ptr = _ctxPtr, Writable = true },
        };
        foreach (var m in Instance.Maps)
        {
            if (m.Spec.Type is BpfMapType.PerfEventArray or BpfMapType.ProgArray) continue; // no values a program may address
            list.Add(new Region { Start = m.Address, Len = (ulong)m.StorageLength, Ptr = m.StoragePtr, Writable = !m.Spec.ReadOnly });
        }
        return list.ToArray();
    }

    private void PrepareRun(ReadOnlySpan<byte> ctx, byte* ctxBytes, in HelperContext hc, ulong seed, bool compiled)
    {
        if (ctx.Length > _ctx.Length)
        {
            _ctx = GC.AllocateArray<byte>(Math.Max(ctx.Length, _ctx.Length * 2), pinned: true);
            _ctxPtr = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_ctx));
            _ctxAddr = Memory.Map(AddressSpace.Kernel, _ctx);
            _ctxDirty = 0;
        }
        _ctxLen = ctx.Length;
        _ctxBorrowed = true;
        _ctxStale = false;
        // The borrowed view is rewritten only when it changed: most callers pass the same bytes
        // (or none) run after run, and this is every run's fixed cost.
        if (!_viewBorrowed || _borrowedPtr != ctxBytes || _borrowedLen != ctx.Length)
        {
            _regions[1] = new Region { Start = _ctxAddr, Len = (ulong)_ctxLen, Ptr = ctxBytes, Writable = false };
            Ctx.Set(_ctxAddr, ctxBytes, _ctxLen, writable: false);
            _viewBorrowed = true;
            _borrowedPtr = ctxBytes;
            _borrowedLen = ctx.Length;
        }
        _cpu = hc.Cpu;
        if (!ReferenceEquals(_task, hc.Current)) _task = hc.Current;
        _contextKind = hc.Context;
        _nowNs = hc.NowNs;
        _preemptDepth = hc.PreemptDepth;
        if (_calls is not null) _calls = null;
        _rand = seed ^ 0x9e3779b97f4a7c15UL;
        ResetLoop(compiled);
        if (_tail.Root is null) _tail.Cnt = 0; // tail_call_cnt starts at 0 with each run
        if (_signals is not null) _signals = null;
        // The stack is not zeroed between runs, as the kernel's is not: only a program reading stack
        // it never wrote (which the verifier refuses) could see the previous run's bytes, and even
        // then runs stay reproducible, because a VM's runs happen in a deterministic order.
    }

    /// <summary>
    /// Copies the borrowed context into the VM's own mapped buffer (zero past its length, as a fresh
    /// copy is) and points the run at it: before the first store to ctx and before any helper, which
    /// may read or write it through kernel memory. A program that only reads ctx never pays the copy.
    /// </summary>
    private void MaterializeCtx()
    {
        new ReadOnlySpan<byte>(_regions[1].Ptr, _ctxLen).CopyTo(_ctx);
        if (_ctxDirty > _ctxLen) _ctx.AsSpan(_ctxLen, _ctxDirty - _ctxLen).Clear();
        _ctxDirty = _ctxLen;
        _regions[1] = new Region { Start = _ctxAddr, Len = (ulong)_ctxLen, Ptr = _ctxPtr, Writable = true };
        Ctx.Set(_ctxAddr, _ctxPtr, _ctxLen, writable: true);
        _ctxBorrowed = false;
        _viewBorrowed = false;
    }

    private void EndRun()
    {
        if (!_ctxBorrowed) return;
        // The caller's bytes are not ours past the run: the view still describes them (the next
        // run with the same bytes reuses it) but _ctxStale keeps TryGetSpan, the only way in
        // between runs, off the context's addresses.
        _ctxBorrowed = false;
        _ctxStale = true;
    }

    /// <summary>
    /// Interprets the program once as the kernel runs it: r1 = address of the context (the caller's
    /// bytes, copied into the VM's buffer only if the program writes them or calls a helper), r2 = its
    /// length, r10 = top of a 512-byte frame, other registers 0.
    /// </summary>
    public BpfRunResult Run(ReadOnlySpan<byte> ctx, in HelperContext hc, ulong seed = 0)
    {
        fixed (byte* ctxBytes = ctx)
        {
            PrepareRun(ctx, ctxBytes, hc, seed, compiled: false);
            try
            {
                ulong r0 = Interpret(_ctxAddr, (ulong)_ctxLen);
                return new BpfRunResult((long)r0, _interpCount + _extra, null, _calls);
            }
            catch (BpfFaultException f)
            {
                return new BpfRunResult(0, f.Count + _extra, MakeFault(f), _calls);
            }
            finally
            {
                EndRun();
            }
        }
    }

    /// <summary>Runs the IL-compiled form (compiled on first use); same results as <see cref="Run"/>.</summary>
    public BpfRunResult RunCompiled(ReadOnlySpan<byte> ctx, in HelperContext hc, ulong seed = 0)
    {
        var entry = (_compiled ??= BpfIlCompiler.Compile(this)).Entry;
        fixed (byte* ctxBytes = ctx)
        {
            PrepareRun(ctx, ctxBytes, hc, seed, compiled: true);
            var state = new BpfCompiledState();
            SaveArea[SavedPcSlot] = ulong.MaxValue;
            ulong r0;
            // the handlers are out of line and the happy path has no finally: this is every run's cost
            try
            {
                r0 = entry(_ctxAddr, (ulong)_ctxLen, FramePointer, ref state);
            }
            catch (BpfFaultException f)
            {
                EndRun();
                return CompiledFault(f);
            }
            catch
            {
                EndRun();
                throw;
            }
            EndRun();
            return new BpfRunResult((long)r0, state.Count, null, _calls);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private BpfRunResult CompiledFault(BpfFaultException f)
    {
        if (SaveArea[SavedPcSlot] != ulong.MaxValue)
        {
            f.Insn = (int)SaveArea[SavedPcSlot];
            f.Count = SaveArea[SavedCountSlot];
        }
        return new BpfRunResult(0, f.Count, MakeFault(f), _calls);
    }

    /// <summary>Compiles now (otherwise the first RunCompiled does).</summary>
    public void Compile() => _compiled ??= BpfIlCompiler.Compile(this);

    private BpfFault MakeFault(BpfFaultException f) =>
        new(f.Insn, Program.LineOf(f.Insn), f.Message + " (the verifier would have refused this program)");

    // ---- memory -------------------------------------------------------------------------

    /// <summary>The bytes at [addr, addr+len) when they lie in one region the program may touch.</summary>
    public bool TryGetSpan(ulong addr, int len, bool write, out Span<byte> span)
    {
        if (_ctxStale && addr - _ctxAddr < (ulong)_ctx.Length)
        {
            // after a run that only read its context, which was never copied here
            span = default;
            return false;
        }
        byte* p = Translate(addr, (ulong)len, write);
        if (p != null)
        {
            span = new Span<byte>(p, len);
            return true;
        }
        // other simulated kernel memory, but never this VM's context buffer past the run's context
        // (a borrowed context's bytes are not in it; a copied one's slack is not the program's)
        if (!write && addr - _ctxAddr >= (ulong)_ctx.Length && Memory.TryGetSpan(addr, len, AddressSpace.Kernel, out span)) return true;
        span = default;
        return false;
    }

    internal byte* Translate(ulong addr, ulong len, bool write)
    {
        var regs = _regions;
        for (int i = 0; i < regs.Length; i++)
        {
            ref var r = ref regs[i];
            ulong o = addr - r.Start;
            if (o < r.Len && len <= r.Len - o)
            {
                if (!write || r.Writable) return r.Ptr + o;
                if (i != 1 || !_ctxBorrowed) return null;
                MaterializeCtx(); // first write to the borrowed context
                return _ctxPtr + o;
            }
        }
        return LentMemory(addr, len);
    }

    // Memory a map's kernel object lends the program (a ringbuf's held reservations), looked up on a miss.
    private byte* LentMemory(ulong addr, ulong len)
    {
        foreach (var m in Instance.Maps)
            if (m.External is IProgramMemory pm && pm.TryProgramMemory(addr, len, out var array, out int offset))
                return (byte*)Unsafe.AsPointer(ref array[offset]);
        return null;
    }

    internal ulong LoadSlow(ulong addr, int size, int pc, ulong count)
    {
        byte* p = Translate(addr, (ulong)size, false);
        if (p != null)
        {
            return size switch
            {
                1 => *p,
                2 => Unsafe.ReadUnaligned<ushort>(p),
                4 => Unsafe.ReadUnaligned<uint>(p),
                _ => Unsafe.ReadUnaligned<ulong>(p),
            };
        }
        // Simulated kernel memory (BTF pointers a tracing program may read directly), but not
        // the slack of this VM's context buffer past the run's context length.
        Span<byte> tmp = stackalloc byte[8];
        tmp.Clear();
        if (Memory.Find(addr) is { } reg && !ReferenceEquals(reg.Bytes, _ctx) && Memory.TryRead(addr, tmp[..size], AddressSpace.Kernel))
            return BinaryPrimitives.ReadUInt64LittleEndian(tmp);
        // BPF_PROBE_MEM (a load the verifier typed as through PTR_TO_BTF_ID): the kernel's exception
        // table fixup zeroes the destination and the program goes on
        if (Program.ProbeMemLoads is { } pm && (uint)pc < (uint)pm.Length && pm[pc]) return 0;
        throw new BpfFaultException($"invalid memory access: read of {size} bytes at 0x{addr:x}, outside every region the program may touch", pc) { Count = count };
    }

    internal void StoreSlow(ulong addr, int size, ulong value, int pc, ulong count)
    {
        byte* p = Translate(addr, (ulong)size, true);
        if (p == null)
        {
            string why = Translate(addr, (ulong)size, false) != null ? " (read-only)" : ", outside every region the program may write";
            throw new BpfFaultException($"invalid memory access: write of {size} bytes at 0x{addr:x}{why}", pc) { Count = count };
        }
        switch (size)
        {
            case 1: *p = (byte)value; break;
            case 2: Unsafe.WriteUnaligned(p, (ushort)value); break;
            case 4: Unsafe.WriteUnaligned(p, (uint)value); break;
            default: Unsafe.WriteUnaligned(p, value); break;
        }
    }

    /// <summary>
    /// For the compiled form's counted loops: host address minus simulated address when an access of
    /// size bytes at every address in [lo, hi] (lo &lt;= hi) lies in one region the program may touch,
    /// else 0. Never copies the borrowed context (the loop might fault before its first store, and
    /// then the run must not have copied it): a store to it gets 0, and the ordinary code copies it.
    /// </summary>
    internal ulong RegionBias(ulong lo, ulong hi, int size, bool write)
    {
        if (write && _ctxBorrowed && lo - _ctxAddr < (ulong)_ctxLen) return 0;
        byte* p = Translate(lo, hi - lo + (ulong)size, write);
        return p == null ? 0 : (ulong)p - lo;
    }

    internal byte* AtomicPtr(ulong addr, int size, int pc, ulong count)
    {
        byte* p = Translate(addr, (ulong)size, true);
        if (p == null)
            throw new BpfFaultException($"invalid memory access: atomic {size}-byte operation at 0x{addr:x}, outside every region the program may write", pc) { Count = count };
        return p;
    }

    // ---- helpers --------------------------------------------------------------------------

    private List<BpfSignal>? _signals;

    /// <summary>
    /// The signals the last run sent with bpf_send_signal, in order (empty for most runs). Kept on
    /// the VM rather than in BpfRunResult: a wider result slowed the interpreter's runs by half.
    /// </summary>
    public IReadOnlyList<BpfSignal> Signals => _signals is null ? Array.Empty<BpfSignal>() : _signals;

    /// <summary>
    /// bpf_send_signal's deferred path: the per-CPU irq_work that delivers the signal runs only
    /// after the program, so while one is queued in this run another call gets false (-EBUSY).
    /// </summary>
    public bool QueueSignal(BpfSignal s)
    {
        if (_signals is { Count: > 0 }) return false;
        (_signals ??= new()).Add(s);
        return true;
    }

    /// <summary>bpf_send_signal's direct path (group_send_sig_info): delivered at once, so any number per run.</summary>
    public void SendSignalNow(BpfSignal s) => (_signals ??= new()).Add(s);

    /// <summary>get_prandom_u32: deterministic per run (seeded by Run's seed).</summary>
    public uint NextPrandom()
    {
        // splitmix64 step
        ulong z = _rand += 0x9e3779b97f4a7c15UL;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
        return (uint)((z ^ (z >> 31)) >> 16);
    }

    /// <summary>
    /// Save-area slots the compiled code sets around a direct helper call: the call's instruction
    /// (ulong.MaxValue when no call is in progress) and its exact executed count, which the run's
    /// fault handler stamps on a fault the helper raised (what CallHelper's catch does for the
    /// interpreter).
    /// </summary>
    internal const int SavedPcSlot = 13, SavedCountSlot = 14;

    /// <summary>The helper a call instruction reaches (resolved once), or null.</summary>
    internal BpfHelperFn? ResolveHelper(int id) => (uint)id < 256u ? HelperFns[id] ??= _host.Resolve(id, Program.Type) : null;

    /// <summary>Whether calling helper id needs the context copied first (it reads memory by address).</summary>
    internal bool HelperNeedsOwnCtx(int id) => !_helperSpansOnly[id];

    internal void MaterializeCtxIfBorrowed()
    {
        if (_ctxBorrowed) MaterializeCtx();
    }

    internal void RecordCall(int id, ulong r0) => (_calls ??= new()).Add(new BpfHelperCall(id, BpfHelperNames.Name(id), (long)r0));

    internal ulong CallHelper(int id, ulong r1, ulong r2, ulong r3, ulong r4, ulong r5, int pc, ulong count)
    {
        var fn = (uint)id < 256u ? HelperFns[id] ??= _host.Resolve(id, Program.Type) : null;
        if (fn is null)
            throw new BpfFaultException($"call to unknown helper {BpfHelperNames.Name(id)}#{id}", pc) { Count = count };
        if (_ctxBorrowed && !_helperSpansOnly[id]) MaterializeCtx();
        ulong r0;
        try
        {
            r0 = fn(this, r1, r2, r3, r4, r5);
        }
        catch (BpfFaultException f)
        {
            f.Insn = pc;
            f.Count = count;
            throw;
        }
        if (RecordHelperCalls) RecordCall(id, r0);
        return r0;
    }

    /// <summary>Raised by a helper for an argument the verifier would have refused (e.g. a bad pointer).</summary>
    public static BpfFaultException HelperFault(string message) => new(message);

    /// <summary>callx: the instruction index of a function address, or -1 when the value is a helper id.</summary>
    internal int CallxTarget(ulong t, int pc, ulong count)
    {
        if (t - CodeBase < (ulong)Code.Length * 8 && (t & 7) == 0) return (int)((t - CodeBase) / 8);
        if (IsHelper(t)) return -1;
        throw CallxFault(pc, count, t);
    }

    /// <summary>callx with a helper id: resolved at run time (the verifier cannot see the value).</summary>
    internal bool IsHelper(ulong t) => t < 256 && (HelperFns[t] ??= _host.Resolve((int)t, Program.Type)) is not null;

    internal bool TryLoadPacket(long off, int size, out ulong value) => BpfOps.LoadPacket(Ctx.Ptr, _ctxLen, off, size, out value);

    internal static BpfFaultException InvalidOpcodeFault(int pc, int op, ulong count) =>
        new($"invalid opcode 0x{op:x2}", pc) { Count = count };

    internal static BpfFaultException LimitFault(int pc, ulong count, ulong max) =>
        new($"instruction limit of {max} exceeded (the program does not terminate in time)", pc) { Count = count };

    internal static BpfFaultException DepthFault(int pc, ulong count) =>
        new($"call stack too deep: more than {MaxFrames} frames", pc) { Count = count };

    internal static BpfFaultException CallxFault(int pc, ulong count, ulong target) =>
        new($"callx to 0x{target:x}, which is neither a function of the program nor a helper id", pc) { Count = count };
}
