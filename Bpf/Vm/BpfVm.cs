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
    private readonly byte[] _stack;
    internal readonly byte* StackPtr;
    private byte[] _ctx;
    private byte* _ctxPtr;
    private ulong _ctxAddr;
    private int _ctxLen;
    private Region[] _regions;
    private List<BpfHelperCall>? _calls;
    private ulong _rand;
    private BpfCompiledProgram? _compiled;
    private readonly IBpfHelperHost _host;

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

        _stack = GC.AllocateArray<byte>(TotalStack, pinned: true);
        StackPtr = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_stack));
        StackBase = Memory.Map(AddressSpace.Kernel, _stack);
        _ctx = GC.AllocateArray<byte>(256, pinned: true);
        _ctxPtr = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_ctx));
        _ctxAddr = Memory.Map(AddressSpace.Kernel, _ctx);
        _regions = BuildRegions();
    }

    public BpfInstance Instance { get; }
    public BpfProgram Program { get; }
    public SimMemory Memory { get; }
    /// <summary>Address of the lowest byte of the 8-frame stack; frame 0's r10 is StackBase + 4096.</summary>
    public ulong StackBase { get; }
    public ulong FramePointer => StackBase + TotalStack;
    /// <summary>Where the current run's context copy lives (r1).</summary>
    public ulong ContextAddress => _ctxAddr;
    public int ContextLength => _ctxLen;
    /// <summary>The running step's CPU, task, context kind and time (helpers read it).</summary>
    public HelperContext Context { get; private set; }
    /// <summary>A run stops with a fault after this many instructions (the verifier bounds real programs).</summary>
    public ulong MaxInstructions { get; set; } = 1UL << 26;
    /// <summary>Record each helper call (id, name, ret) in the result; off for benchmarks.</summary>
    public bool RecordHelperCalls { get; set; } = true;

    private Region[] BuildRegions()
    {
        var list = new List<Region>
        {
            new() { Start = StackBase, Len = TotalStack, Ptr = StackPtr, Writable = true },
            new() { Start = _ctxAddr, Len = (ulong)_ctxLen, Ptr = _ctxPtr, Writable = true },
        };
        foreach (var m in Instance.Maps)
        {
            if (m.Spec.Type == BpfMapType.PerfEventArray) continue;
            list.Add(new Region { Start = m.Address, Len = (ulong)m.StorageLength, Ptr = m.StoragePtr, Writable = !m.Spec.ReadOnly });
        }
        return list.ToArray();
    }

    private void PrepareRun(ReadOnlySpan<byte> ctx, in HelperContext hc, ulong seed)
    {
        if (ctx.Length > _ctx.Length)
        {
            _ctx = GC.AllocateArray<byte>(Math.Max(ctx.Length, _ctx.Length * 2), pinned: true);
            _ctxPtr = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_ctx));
            _ctxAddr = Memory.Map(AddressSpace.Kernel, _ctx);
        }
        ctx.CopyTo(_ctx);
        _ctx.AsSpan(ctx.Length).Clear();
        _ctxLen = ctx.Length;
        _regions[1] = new Region { Start = _ctxAddr, Len = (ulong)_ctxLen, Ptr = _ctxPtr, Writable = true };
        Context = hc;
        _calls = null;
        _rand = seed ^ 0x9e3779b97f4a7c15UL;
        // The stack is not zeroed between runs, as the kernel's is not: only a program reading stack
        // it never wrote (which the verifier refuses) could see the previous run's bytes, and even
        // then runs stay reproducible, because a VM's runs happen in a deterministic order.
    }

    /// <summary>
    /// Interprets the program once as the kernel runs it: r1 = address of a private copy of ctx,
    /// r2 = its length, r10 = top of a 512-byte frame, other registers 0.
    /// </summary>
    public BpfRunResult Run(ReadOnlySpan<byte> ctx, in HelperContext hc, ulong seed = 0)
    {
        PrepareRun(ctx, hc, seed);
        ulong count = 0;
        try
        {
            ulong r0 = Interpret(_ctxAddr, (ulong)_ctxLen, ref count);
            return new BpfRunResult((long)r0, count, null, _calls);
        }
        catch (BpfFaultException f)
        {
            return new BpfRunResult(0, f.Count, MakeFault(f), _calls);
        }
    }

    /// <summary>Runs the IL-compiled form (compiled on first use); same results as <see cref="Run"/>.</summary>
    public BpfRunResult RunCompiled(ReadOnlySpan<byte> ctx, in HelperContext hc, ulong seed = 0)
    {
        _compiled ??= BpfIlCompiler.Compile(this);
        PrepareRun(ctx, hc, seed);
        var state = new BpfCompiledState();
        try
        {
            ulong r0 = _compiled.Entry(this, _ctxAddr, (ulong)_ctxLen, FramePointer, ref state);
            return new BpfRunResult((long)r0, state.Count, null, _calls);
        }
        catch (BpfFaultException f)
        {
            return new BpfRunResult(0, f.Count, MakeFault(f), _calls);
        }
    }

    /// <summary>Compiles now (otherwise the first RunCompiled does).</summary>
    public void Compile() => _compiled ??= BpfIlCompiler.Compile(this);

    private BpfFault MakeFault(BpfFaultException f) =>
        new(f.Insn, Program.LineOf(f.Insn), f.Message + " (the verifier would have refused this program)");

    // ---- memory -------------------------------------------------------------------------

    /// <summary>The bytes at [addr, addr+len) when they lie in one region the program may touch.</summary>
    public bool TryGetSpan(ulong addr, int len, bool write, out Span<byte> span)
    {
        byte* p = Translate(addr, (ulong)len, write);
        if (p != null)
        {
            span = new Span<byte>(p, len);
            return true;
        }
        if (!write && Memory.TryGetSpan(addr, len, AddressSpace.Kernel, out span)) return true;
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
                return write && !r.Writable ? null : r.Ptr + o;
        }
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

    internal byte* AtomicPtr(ulong addr, int size, int pc, ulong count)
    {
        byte* p = Translate(addr, (ulong)size, true);
        if (p == null)
            throw new BpfFaultException($"invalid memory access: atomic {size}-byte operation at 0x{addr:x}, outside every region the program may write", pc) { Count = count };
        return p;
    }

    // ---- helpers --------------------------------------------------------------------------

    /// <summary>get_prandom_u32: deterministic per run (seeded by Run's seed).</summary>
    public uint NextPrandom()
    {
        // splitmix64 step
        ulong z = _rand += 0x9e3779b97f4a7c15UL;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
        return (uint)((z ^ (z >> 31)) >> 16);
    }

    internal ulong CallHelper(int id, ulong r1, ulong r2, ulong r3, ulong r4, ulong r5, int pc, ulong count)
    {
        var fn = (uint)id < 256u ? HelperFns[id] ??= _host.Resolve(id, Program.Type) : null;
        if (fn is null)
            throw new BpfFaultException($"call to unknown helper {BpfHelperNames.Name(id)}#{id}", pc) { Count = count };
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
        if (RecordHelperCalls) (_calls ??= new()).Add(new BpfHelperCall(id, BpfHelperNames.Name(id), (long)r0));
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

    internal bool TryLoadPacket(long off, int size, out ulong value) => BpfOps.LoadPacket(_ctxPtr, _ctxLen, off, size, out value);

    internal static BpfFaultException InvalidOpcodeFault(int pc, int op, ulong count) =>
        new($"invalid opcode 0x{op:x2}", pc) { Count = count };

    internal static BpfFaultException LimitFault(int pc, ulong count, ulong max) =>
        new($"instruction limit of {max} exceeded (the program does not terminate in time)", pc) { Count = count };

    internal static BpfFaultException DepthFault(int pc, ulong count) =>
        new($"call stack too deep: more than {MaxFrames} frames", pc) { Count = count };

    internal static BpfFaultException CallxFault(int pc, ulong count, ulong target) =>
        new($"callx to 0x{target:x}, which is neither a function of the program nor a helper id", pc) { Count = count };
}
