using System.Reflection;
using System.Reflection.Emit;
using BpfTraceSim.Bpf.Helpers;
using BpfTraceSim.Bpf.Isa;

namespace BpfTraceSim.Bpf.Vm;

/// <summary>What a compiled program reports besides r0.</summary>
public struct BpfCompiledState
{
    /// <summary>In: the count so far (0 for a run); out: the count at the exit.</summary>
    public ulong Count;
    /// <summary>In: the call depth to start at, whose exit returns (a bpf_loop callback's frame; 0 for a run).</summary>
    public int Depth;
    /// <summary>In: the instruction to start at: 0, or a bpf_loop callback's first instruction.</summary>
    public int Entry;
}

/// <summary>Signature of a compiled program: (vm, r1, r2, r10, state) -> r0.</summary>
/// <summary>
/// A compiled program's entry, bound to the VM it was compiled for (the DynamicMethod's first
/// argument): a delegate closed over its first argument is called without the argument-shuffling
/// stub an open static delegate needs, which is part of every run's fixed cost.
/// </summary>
public delegate ulong BpfCompiledEntry(ulong r1, ulong r2, ulong r10, ref BpfCompiledState state);

/// <summary>A program compiled to a DynamicMethod.</summary>
public sealed class BpfCompiledProgram
{
    internal BpfCompiledProgram(BpfCompiledEntry entry) => Entry = entry;
    public BpfCompiledEntry Entry { get; }
}

/// <summary>
/// Compiles a VM's pre-decoded program to IL: registers are locals, each basic block adds its
/// length to the instruction count on entry (faults and early exits correct it to the exact
/// instruction), the stack fast path is inlined and everything else calls the same VM methods
/// and <see cref="BpfOps"/> the interpreter uses, so faults and results are identical.
/// </summary>
internal static unsafe class BpfIlCompiler
{
    private const int TotalStack = BpfVm.StackSize * BpfVm.MaxFrames;
    private static readonly FieldInfo CountField = typeof(BpfCompiledState).GetField(nameof(BpfCompiledState.Count))!;
    private static readonly FieldInfo DepthField = typeof(BpfCompiledState).GetField(nameof(BpfCompiledState.Depth))!;
    private static readonly FieldInfo EntryField = typeof(BpfCompiledState).GetField(nameof(BpfCompiledState.Entry))!;
    private static readonly MethodInfo CallLoopM = M(nameof(BpfVm.CallLoop));
    private static readonly MethodInfo TailCallM = M(nameof(BpfVm.TailCall));
    private static readonly FieldInfo TailField = typeof(BpfVm).GetField(nameof(BpfVm._tail), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly FieldInfo TailRanField = typeof(BpfVm.TailState).GetField(nameof(BpfVm.TailState.Ran))!;
    private static readonly FieldInfo TailInsnsField = typeof(BpfVm.TailState).GetField(nameof(BpfVm.TailState.Insns))!;
    private static readonly FieldInfo LoopInsnsField = typeof(BpfVm).GetField(nameof(BpfVm._loopInsns), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly MethodInfo LoadSlowM = M(nameof(BpfVm.LoadSlow));
    private static readonly MethodInfo StoreSlowM = M(nameof(BpfVm.StoreSlow));
    private static readonly MethodInfo AtomicPtrM = M(nameof(BpfVm.AtomicPtr));
    private static readonly MethodInfo RegionBiasM = M(nameof(BpfVm.RegionBias));
    private static readonly MethodInfo CallHelperM = M(nameof(BpfVm.CallHelper));
    private static readonly MethodInfo MaterializeIfBorrowedM = M(nameof(BpfVm.MaterializeCtxIfBorrowed));
    private static readonly MethodInfo RecordCallM = M(nameof(BpfVm.RecordCall));
    private static readonly MethodInfo RecordCallsGetM = typeof(BpfVm).GetProperty(nameof(BpfVm.RecordHelperCalls))!.GetMethod!;
    private static readonly FieldInfo HelperFnsField = typeof(BpfVm).GetField(nameof(BpfVm.HelperFns), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly MethodInfo HelperInvokeM = typeof(BpfHelperFn).GetMethod(nameof(BpfHelperFn.Invoke))!;
    private static readonly MethodInfo CallxTargetM = M(nameof(BpfVm.CallxTarget));
    private static readonly MethodInfo PacketM = M(nameof(BpfVm.TryLoadPacket));
    private static readonly MethodInfo LimitFaultM = M(nameof(BpfVm.LimitFault));
    private static readonly MethodInfo DepthFaultM = M(nameof(BpfVm.DepthFault));
    private static readonly MethodInfo InvalidM = M(nameof(BpfVm.InvalidOpcodeFault));
    private static readonly MethodInfo AtomicM = typeof(BpfOps).GetMethod(nameof(BpfOps.Atomic))!;
    private static readonly FieldInfo CtxField = typeof(BpfVm).GetField(nameof(BpfVm.Ctx), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly FieldInfo CtxAddrField = typeof(BpfVm.CtxView).GetField(nameof(BpfVm.CtxView.Addr))!;
    private static readonly FieldInfo CtxPtrField = typeof(BpfVm.CtxView).GetField(nameof(BpfVm.CtxView.Ptr))!;
    private static FieldInfo CtxLimField(int size, bool write) => typeof(BpfVm.CtxView).GetField((write ? "W" : "R") + size)!;

    private static MethodInfo M(string name) =>
        typeof(BpfVm).GetMethod(name, BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)
        ?? throw new MissingMethodException(nameof(BpfVm), name);

    private static MethodInfo Ops(string name) => typeof(BpfOps).GetMethod(name)!;

    public static BpfCompiledProgram Compile(BpfVm vm)
    {
        var code = vm.Code;
        int n = code.Length;
        var dm = new DynamicMethod("bpf_" + vm.Program.Name, typeof(ulong),
            [typeof(BpfVm), typeof(ulong), typeof(ulong), typeof(ulong), typeof(BpfCompiledState).MakeByRefType()],
            typeof(BpfVm).Module, skipVisibility: true);
        var il = dm.GetILGenerator();
        // The stack, the frame records and the save area are pinned for the VM's life and the
        // compiled form belongs to one VM: their addresses are constants, not registers.
        ulong stackBase = vm.StackBase;
        byte* stackPtr = vm.StackPtr;
        ulong* frames = vm.FrameRecords;
        ulong* save = vm.SaveArea;
        void Ptr(void* p) { il.Emit(OpCodes.Ldc_I8, (long)p); il.Emit(OpCodes.Conv_U); }

        // ---- basic blocks ----
        var leader = new bool[n + 1];
        leader[0] = true;
        var returnSites = new List<int>();
        var funcEntries = new List<int>(); // function addresses the program takes (bpf_loop callbacks start there)
        bool hasCallx = false;
        for (int pc = 0; pc < n; pc++)
        {
            var d = code[pc];
            int cls = d.Op & 7;
            if (d.Op == Op.LDDW)
            {
                if ((ulong)d.Imm - BpfVm.CodeBase < (ulong)n * 8 && (d.Imm & 7) == 0)
                {
                    int f = (int)(((ulong)d.Imm - BpfVm.CodeBase) / 8);
                    leader[f] = true;
                    if (!funcEntries.Contains(f)) funcEntries.Add(f);
                }
                pc++;
                continue;
            }
            if (d.Op == (Op.JMP | Op.CALL)) continue; // helper calls do not end a block
            if (d.Op == IOp.CALL_LOCAL || d.Op == (Op.JMP | Op.CALL | Op.X))
            {
                if (d.Op == IOp.CALL_LOCAL) leader[pc + 1 + d.Imm] = true;
                else hasCallx = true;
                leader[pc + 1] = true;
                returnSites.Add(pc + 1);
                continue;
            }
            if (cls is Op.JMP or Op.JMP32)
            {
                leader[pc + 1] = true;
                if (d.Op == (Op.JMP32 | Op.JA)) leader[pc + 1 + d.Imm] = true;
                else if (d.Op != (Op.JMP | Op.EXIT)) leader[pc + 1 + d.Off] = true;
            }
        }
        var blockStart = new int[n];
        var blockLen = new int[n + 1];
        {
            int start = 0;
            for (int pc = 0; pc <= n; pc++)
            {
                if (pc == n || (leader[pc] && pc != start))
                {
                    // count executed instructions (ld_imm64 is one) in [start, pc)
                    int c = 0;
                    for (int k = start; k < pc; k++) if (code[k].Op != IOp.Filler || k == 0 || code[k - 1].Op != Op.LDDW) c++;
                    blockLen[start] = c;
                    start = pc;
                }
                if (pc < n) blockStart[pc] = start;
            }
        }
        // instructions executed in pc's block up to and including pc
        int UpTo(int pc)
        {
            int c = 0;
            for (int k = blockStart[pc]; k <= pc; k++) if (!(k > 0 && code[k - 1].Op == Op.LDDW && code[k].Op == IOp.Filler)) c++;
            return c;
        }

        var labels = new Label[n + 1];
        for (int i = 0; i <= n; i++) labels[i] = il.DefineLabel();

        // ---- locals ----
        var r = new LocalBuilder[11];
        for (int i = 0; i < 11; i++) r[i] = il.DeclareLocal(typeof(ulong));
        var count = il.DeclareLocal(typeof(ulong));
        var max = il.DeclareLocal(typeof(ulong));
        var addr = il.DeclareLocal(typeof(ulong));
        var off = il.DeclareLocal(typeof(ulong));
        var depth = il.DeclareLocal(typeof(int));
        var baseDepth = il.DeclareLocal(typeof(int)); // the frame whose exit returns (BpfCompiledState.Depth)
        var fp = il.DeclareLocal(typeof(ulong*));
        var tmpS = il.DeclareLocal(typeof(ulong));
        var tmp0 = il.DeclareLocal(typeof(ulong));
        var tgt = il.DeclareLocal(typeof(int));
        var ctxAddr = il.DeclareLocal(typeof(ulong));
        var ctxPtr = il.DeclareLocal(typeof(byte*));
        // per access size: R = read limit, W = write limit (see BpfVm.CtxView), declared when used
        var ctxLim = new LocalBuilder?[2, 9];
        LocalBuilder CtxLocal(int size, bool write) => ctxLim[write ? 1 : 0, size] ??= il.DeclareLocal(typeof(ulong));
        LocalBuilder CtxR(int size) => CtxLocal(size, false);
        LocalBuilder CtxW(int size) => CtxLocal(size, true);
        // No instruction writes r10 (the load refuses ALU/LDX/ld_imm64 into it; an atomic fetch
        // with src r10 would write it, so such a program loses the frame-pointer proof).
        bool r10Fixed = true;
        foreach (var d in code)
            if ((d.Op & 0xe7) == (Op.STX | Op.ATOMIC) && d.Src == 10 && ((d.Imm & Op.FETCH) != 0)) r10Fixed = false;
        // The callee-saved registers some instruction may read (conservatively: every operand but
        // the destination of a mov, ldx or ld_imm64): one nothing reads needs no trip through the
        // save area around a helper call.
        var mayRead = new bool[11];
        foreach (var d in code)
        {
            int c = d.Op & 7;
            bool writesOnly = d.Op == Op.LDDW || c == Op.LDX || (c is Op.ALU or Op.ALU64 && (d.Op & 0xf0) == Op.MOV);
            if (d.Src < 11) mayRead[d.Src] = true;
            if (!writesOnly && d.Dst < 11) mayRead[d.Dst] = true;
        }
        // which context limits the program uses, so the prologue and reloads set exactly those
        foreach (var d in code)
        {
            int c = d.Op & 7, mode = d.Op & 0xe0;
            if (c == Op.LDX && mode is Op.MEM or Op.MEMSX) CtxR(Op.SizeBytes(d.Op));
            if (c is Op.ST or Op.STX && mode == Op.MEM) CtxW(Op.SizeBytes(d.Op));
        }

        // counted loops (BpfCountedLoop): the one whose unchecked copy / ordinary code is being emitted
        BpfCountedLoop? fast = null, slowLoop = null;
        Label fastHead = default, slowHead = default;

        // ---- prologue ----
        il.Emit(OpCodes.Ldarg_1); il.Emit(OpCodes.Stloc, r[1]);
        il.Emit(OpCodes.Ldarg_2); il.Emit(OpCodes.Stloc, r[2]);
        il.Emit(OpCodes.Ldarg_3); il.Emit(OpCodes.Stloc, r[10]);
        // what stays the same for the run: loaded here and after each call
        void LoadInvariants()
        {
            il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Call, typeof(BpfVm).GetProperty(nameof(BpfVm.MaxInstructions))!.GetMethod!); il.Emit(OpCodes.Stloc, max);
            il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldflda, CtxField); il.Emit(OpCodes.Ldfld, CtxAddrField); il.Emit(OpCodes.Stloc, ctxAddr);
            for (int size = 1; size <= 8; size *= 2)
                if (ctxLim[0, size] is { } lr)
                {
                    il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldflda, CtxField); il.Emit(OpCodes.Ldfld, CtxLimField(size, false)); il.Emit(OpCodes.Stloc, lr);
                }
        }
        LoadInvariants();
        // the pointer and the write limits change when a borrowed context is copied (a store or a
        // helper call): loaded here and again after each of those
        void ReloadCtx()
        {
            il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldflda, CtxField); il.Emit(OpCodes.Ldfld, CtxPtrField); il.Emit(OpCodes.Stloc, ctxPtr);
            for (int size = 1; size <= 8; size *= 2)
                if (ctxLim[1, size] is { } lw)
                {
                    il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldflda, CtxField); il.Emit(OpCodes.Ldfld, CtxLimField(size, true)); il.Emit(OpCodes.Stloc, lw);
                }
        }
        ReloadCtx();

        // Around every call out of the compiled code, the registers go to the save area and come
        // back after it, so none is live across a call: the JIT then keeps them in any register
        // (otherwise it spills the BPF registers of a whole loop because of one cold slow path).
        var callRet = il.DeclareLocal(typeof(ulong));
        void Spill() => SpillFrom(0);
        // from r6 (a direct helper call) only what some instruction reads; from r0 everything
        bool Kept(int first, int k) => first == 0 || k == 10 || mayRead[k];
        void SpillFrom(int first)
        {
            for (int k = first; k <= 10; k++)
            {
                if (!Kept(first, k)) continue;
                Ptr(save + k); Ld(k); il.Emit(OpCodes.Stind_I8);
            }
            Ptr(save + 11); il.Emit(OpCodes.Ldloc, count); il.Emit(OpCodes.Stind_I8);
            Ptr(save + 12); il.Emit(OpCodes.Ldloc, depth); il.Emit(OpCodes.Conv_I8); il.Emit(OpCodes.Stind_I8);
        }
        void Reload()
        {
            ReloadFrom(0);
            LoadInvariants();
            ReloadCtx();
        }
        void ReloadFrom(int first)
        {
            for (int k = first; k <= 10; k++)
            {
                if (!Kept(first, k)) continue;
                Ptr(save + k); il.Emit(OpCodes.Ldind_I8); St(k);
            }
            Ptr(save + 11); il.Emit(OpCodes.Ldind_I8); il.Emit(OpCodes.Stloc, count);
            Ptr(save + 12); il.Emit(OpCodes.Ldind_I8); il.Emit(OpCodes.Conv_I4); il.Emit(OpCodes.Stloc, depth);
        }
        // a call: its result (if any) kept in callRet while the registers come back
        void CallOut(MethodInfo m)
        {
            il.Emit(OpCodes.Call, m);
            if (m.ReturnType == typeof(ulong)) il.Emit(OpCodes.Stloc, callRet);
            else if (m.ReturnType != typeof(void)) throw new InvalidOperationException(m.Name);
            Reload();
        }
        // A helper known at compile time, called through its delegate without CallHelper's frame:
        // what CallHelper does around the call (copy a borrowed context if the helper reads memory
        // by address, stamp a fault with the call's instruction and count, record the call) is
        // emitted here, and only what this helper needs.
        void EmitDirectHelperCall(int id, int pc)
        {
            Ptr(save + BpfVm.SavedPcSlot); il.Emit(OpCodes.Ldc_I8, (long)pc); il.Emit(OpCodes.Stind_I8);
            Ptr(save + BpfVm.SavedCountSlot); CountAt(pc); il.Emit(OpCodes.Stind_I8);
            if (vm.HelperNeedsOwnCtx(id)) { il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Call, MaterializeIfBorrowedM); }
            il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldfld, HelperFnsField); il.Emit(OpCodes.Ldc_I4, id); il.Emit(OpCodes.Ldelem_Ref);
            il.Emit(OpCodes.Ldarg_0); Ld(1); Ld(2); Ld(3); Ld(4); Ld(5);
            il.Emit(OpCodes.Callvirt, HelperInvokeM); il.Emit(OpCodes.Stloc, callRet);
            Ptr(save + BpfVm.SavedPcSlot); il.Emit(OpCodes.Ldc_I8, -1L); il.Emit(OpCodes.Stind_I8);
            var noRecord = il.DefineLabel();
            il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Call, RecordCallsGetM); il.Emit(OpCodes.Brfalse, noRecord);
            il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldc_I4, id); il.Emit(OpCodes.Ldloc, callRet); il.Emit(OpCodes.Call, RecordCallM);
            il.MarkLabel(noRecord);
            // A helper call clobbers r1-r5 and sets r0 (the verifier refuses reading r1-r5 after it,
            // and the interpreter leaves them as they were, as these locals are), so only r6-r10 go
            // through the save area; the run's invariants (limit, ctx address, read limits) cannot
            // change in a helper, the ctx pointer and write limits can (a helper writing ctx copies it).
            ReloadFrom(6);
            ReloadCtx();
        }
        void CountAt(int pc)
        {
            // exact count at pc: count already includes the whole block
            il.Emit(OpCodes.Ldloc, count);
            int adj = UpTo(pc) - blockLen[blockStart[pc]];
            if (adj != 0) { il.Emit(OpCodes.Ldc_I8, (long)adj); il.Emit(OpCodes.Add); }
        }
        void LimitCheck(int pc)
        {
            var ok = il.DefineLabel();
            il.Emit(OpCodes.Ldloc, count); il.Emit(OpCodes.Ldloc, max); il.Emit(OpCodes.Ble_Un, ok);
            il.Emit(OpCodes.Ldc_I4, pc); il.Emit(OpCodes.Ldloc, count); il.Emit(OpCodes.Ldloc, max);
            il.Emit(OpCodes.Call, LimitFaultM); il.Emit(OpCodes.Throw);
            il.MarkLabel(ok);
        }
        void Jump(int pc, int target)
        {
            // inside a loop's unchecked copy the only jump is its back edge
            if (fast is not null) { il.Emit(OpCodes.Br, fastHead); return; }
            if (target <= pc) LimitCheck(pc);
            il.Emit(OpCodes.Br, slowLoop is { } l && target == l.Head ? slowHead : labels[target]);
        }
        void Ld(int reg) => il.Emit(OpCodes.Ldloc, r[reg]);
        void St(int reg) => il.Emit(OpCodes.Stloc, r[reg]);
        void Imm64(long v) => il.Emit(OpCodes.Ldc_I8, v);

        void PushFrame(int pc)
        {
            var ok = il.DefineLabel();
            il.Emit(OpCodes.Ldloc, depth); il.Emit(OpCodes.Ldc_I4, BpfVm.MaxFrames - 1); il.Emit(OpCodes.Blt, ok);
            il.Emit(OpCodes.Ldc_I4, pc); CountAt(pc); il.Emit(OpCodes.Call, DepthFaultM); il.Emit(OpCodes.Throw);
            il.MarkLabel(ok);
            Ptr((byte*)frames); il.Emit(OpCodes.Ldloc, depth); il.Emit(OpCodes.Ldc_I4, 48); il.Emit(OpCodes.Mul); il.Emit(OpCodes.Add); il.Emit(OpCodes.Stloc, fp);
            void Put(int slot, Action value)
            {
                il.Emit(OpCodes.Ldloc, fp); if (slot > 0) { il.Emit(OpCodes.Ldc_I4, slot * 8); il.Emit(OpCodes.Add); }
                value(); il.Emit(OpCodes.Stind_I8);
            }
            Put(0, () => Imm64(returnSites.IndexOf(pc + 1)));
            Put(1, () => Ld(6)); Put(2, () => Ld(7)); Put(3, () => Ld(8)); Put(4, () => Ld(9)); Put(5, () => Ld(10));
            il.Emit(OpCodes.Ldloc, depth); il.Emit(OpCodes.Ldc_I4_1); il.Emit(OpCodes.Add); il.Emit(OpCodes.Stloc, depth);
            Ld(10); Imm64(BpfVm.StackSize); il.Emit(OpCodes.Sub); St(10);
        }

        // The regions an access may hit without a call, in the order tried: r10-based accesses the
        // stack first, others the context first (tracing programs read ctx through r1's copies).
        // A store to the context fast-paths only once it is the VM's own copy (W limits are 0 before).
        bool EmitAccess(int reg, short offset, int size, bool write, Label done, Action? value)
        {
            // r10 is read-only (refused at load) and only ever points at a frame top, 512 * k below
            // FramePointer for a call depth k < MaxFrames: an access inside its own frame is in the stack.
            if (FrameAccess(reg, offset, size))
            {
                Ld(10); Imm64((long)stackPtr - (long)stackBase + offset); il.Emit(OpCodes.Add); il.Emit(OpCodes.Conv_U);
                Deref(size, write, value);
                il.Emit(OpCodes.Br, done);
                return false;
            }
            Ld(reg); Imm64(offset); il.Emit(OpCodes.Add); il.Emit(OpCodes.Stloc, addr);
            bool stackFirst = reg == 10;
            for (int k = 0; k < 2; k++)
            {
                var next = il.DefineLabel();
                if ((k == 0) == stackFirst)
                {
                    il.Emit(OpCodes.Ldloc, addr); Imm64((long)stackBase); il.Emit(OpCodes.Sub); il.Emit(OpCodes.Stloc, off);
                    il.Emit(OpCodes.Ldloc, off); Imm64(TotalStack - size); il.Emit(OpCodes.Bgt_Un, next);
                    Ptr(stackPtr);
                }
                else
                {
                    il.Emit(OpCodes.Ldloc, addr); il.Emit(OpCodes.Ldloc, ctxAddr); il.Emit(OpCodes.Sub); il.Emit(OpCodes.Stloc, off);
                    il.Emit(OpCodes.Ldloc, off); il.Emit(OpCodes.Ldloc, write ? CtxW(size) : CtxR(size)); il.Emit(OpCodes.Bge_Un, next);
                    il.Emit(OpCodes.Ldloc, ctxPtr);
                }
                il.Emit(OpCodes.Ldloc, off); il.Emit(OpCodes.Conv_U); il.Emit(OpCodes.Add);
                Deref(size, write, value);
                il.Emit(OpCodes.Br, done);
                il.MarkLabel(next);
            }
            return true;
        }
        void Deref(int size, bool write, Action? value)
        {
            if (write)
            {
                value!();
                switch (size)
                {
                    case 1: il.Emit(OpCodes.Conv_U1); il.Emit(OpCodes.Unaligned, (byte)1); il.Emit(OpCodes.Stind_I1); break;
                    case 2: il.Emit(OpCodes.Conv_U2); il.Emit(OpCodes.Unaligned, (byte)1); il.Emit(OpCodes.Stind_I2); break;
                    case 4: il.Emit(OpCodes.Conv_U4); il.Emit(OpCodes.Unaligned, (byte)1); il.Emit(OpCodes.Stind_I4); break;
                    default: il.Emit(OpCodes.Unaligned, (byte)1); il.Emit(OpCodes.Stind_I8); break;
                }
                return;
            }
            switch (size)
            {
                case 1: il.Emit(OpCodes.Ldind_U1); il.Emit(OpCodes.Conv_U8); break;
                case 2: il.Emit(OpCodes.Unaligned, (byte)1); il.Emit(OpCodes.Ldind_U2); il.Emit(OpCodes.Conv_U8); break;
                case 4: il.Emit(OpCodes.Unaligned, (byte)1); il.Emit(OpCodes.Ldind_U4); il.Emit(OpCodes.Conv_U8); break;
                default: il.Emit(OpCodes.Unaligned, (byte)1); il.Emit(OpCodes.Ldind_I8); break;
            }
        }

        // ---- counted loops (see BpfCountedLoop): found once, versioned where they start ----
        bool FrameAccess(int reg, short offset, int size) => reg == 10 && r10Fixed && offset >= -BpfVm.StackSize && offset <= -size;
        var loopAt = new BpfCountedLoop?[n];
        if (vm.UncheckedLoops)
            for (int pc = 0; pc < n; pc++)
            {
                int cls = code[pc].Op & 7;
                byte jo = code[pc].Op;
                if (cls != Op.JMP || jo == (Op.JMP | Op.JA) || jo == (Op.JMP | Op.CALL) || jo == (Op.JMP | Op.EXIT) || jo == (Op.JMP | Op.CALL | Op.X)) continue;
                loopAt[blockStart[pc]] ??= BpfCountedLoop.Find(code, blockStart[pc], pc, FrameAccess);
            }
        var fastBias = new Dictionary<int, LocalBuilder>(); // access pc -> host address minus simulated address
        LocalBuilder bound = il.DeclareLocal(typeof(ulong)), trips = il.DeclareLocal(typeof(ulong)), lo = il.DeclareLocal(typeof(ulong)), hi = il.DeclareLocal(typeof(ulong));

        // On entry: the trip count, the budget and every access's region, or the ordinary code.
        void EmitFastLoop(BpfCountedLoop loop)
        {
            slowHead = il.DefineLabel();
            fastHead = il.DefineLabel();
            var slow = slowHead;
            var j = code[loop.Cond];
            int jop = loop.ContinueOp;
            bool up = loop.Step > 0;
            long k = Math.Abs(loop.Step);
            // instructions per iteration: the block, and the goto back when the block jumps out (the
            // last iteration does not run that one)
            bool topExit = loop.End != loop.Cond;
            int len = blockLen[loop.Head] + (topExit ? 1 : 0);
            if ((j.Op & Op.X) != 0) Ld(j.Src); else Imm64(j.Imm);
            il.Emit(OpCodes.Stloc, bound);
            // d = distance to the bound; t = back edges taken = iterations - 1
            void Trips(bool exact)
            {
                if (up) { il.Emit(OpCodes.Ldloc, bound); Ld(loop.Iv); } else { Ld(loop.Iv); il.Emit(OpCodes.Ldloc, bound); }
                il.Emit(OpCodes.Sub); il.Emit(OpCodes.Stloc, trips);
                if (exact)
                {
                    // !=: the induction register must land on the bound
                    if (k != 1) { il.Emit(OpCodes.Ldloc, trips); Imm64(k); il.Emit(OpCodes.Rem_Un); il.Emit(OpCodes.Brtrue, slow); }
                    il.Emit(OpCodes.Ldloc, trips); if (k != 1) { Imm64(k); il.Emit(OpCodes.Div_Un); }
                    Imm64(1); il.Emit(OpCodes.Sub); il.Emit(OpCodes.Stloc, trips);
                }
                else
                {
                    il.Emit(OpCodes.Ldloc, trips); Imm64(1); il.Emit(OpCodes.Sub);
                    if (k != 1) { Imm64(k); il.Emit(OpCodes.Div_Un); }
                    il.Emit(OpCodes.Stloc, trips);
                }
            }
            if (up)
            {
                // continue while iv < bound (<= is < bound + 1; bound = max wraps to 0 and fails below)
                if (jop == Op.JLE) { il.Emit(OpCodes.Ldloc, bound); Imm64(1); il.Emit(OpCodes.Add); il.Emit(OpCodes.Stloc, bound); }
                Ld(loop.Iv); il.Emit(OpCodes.Ldloc, bound); il.Emit(OpCodes.Bge_Un, slow);
                if (jop != Op.JNE) { il.Emit(OpCodes.Ldloc, bound); Imm64(unchecked((long)(ulong.MaxValue - (ulong)(k - 1)))); il.Emit(OpCodes.Bgt_Un, slow); }
                Trips(jop == Op.JNE);
            }
            else
            {
                // continue while iv > bound (>= is > bound - 1; bound 0 never ends without a wrap)
                if (jop == Op.JGE) { il.Emit(OpCodes.Ldloc, bound); il.Emit(OpCodes.Brfalse, slow); il.Emit(OpCodes.Ldloc, bound); Imm64(1); il.Emit(OpCodes.Sub); il.Emit(OpCodes.Stloc, bound); }
                il.Emit(OpCodes.Ldloc, bound); Ld(loop.Iv); il.Emit(OpCodes.Bge_Un, slow);
                if (jop != Op.JNE) { il.Emit(OpCodes.Ldloc, bound); Imm64(k - 1); il.Emit(OpCodes.Blt_Un, slow); }
                Trips(jop == Op.JNE);
            }
            // the ordinary code would check the limit at each back edge with count + (m + 1) * len
            il.Emit(OpCodes.Ldloc, trips); Imm64(1L << 31); il.Emit(OpCodes.Bgt_Un, slow);
            il.Emit(OpCodes.Ldloc, count); il.Emit(OpCodes.Ldloc, max); il.Emit(OpCodes.Bgt_Un, slow);
            il.Emit(OpCodes.Ldloc, trips); Imm64(len); il.Emit(OpCodes.Mul); il.Emit(OpCodes.Ldloc, max); il.Emit(OpCodes.Ldloc, count); il.Emit(OpCodes.Sub); il.Emit(OpCodes.Bgt_Un, slow);
            // every address an access takes lies in [lo, hi] without a wrap, inside one region
            foreach (var a in loop.Accesses)
            {
                // the first iteration's address, then the last one's (t * |S| < 2^63)
                Imm64(a.C);
                if (a.A >= 0) { Ld(a.A); il.Emit(OpCodes.Add); }
                if (a.B >= 0) { Ld(a.B); il.Emit(OpCodes.Add); }
                bool rising = a.S >= 0;
                il.Emit(OpCodes.Stloc, rising ? lo : hi);
                il.Emit(OpCodes.Ldloc, rising ? lo : hi);
                if (a.S != 0)
                {
                    il.Emit(OpCodes.Ldloc, trips); Imm64(Math.Abs(a.S)); il.Emit(OpCodes.Mul);
                    il.Emit(rising ? OpCodes.Add : OpCodes.Sub);
                }
                il.Emit(OpCodes.Stloc, rising ? hi : lo);
                il.Emit(OpCodes.Ldloc, hi); il.Emit(OpCodes.Ldloc, lo); il.Emit(OpCodes.Blt_Un, slow);
                var bias = il.DeclareLocal(typeof(ulong));
                fastBias[a.Pc] = bias;
                var notCtx = il.DefineLabel();
                var have = il.DefineLabel();
                var lim = CtxLocal(a.Size, a.Write);
                foreach (var e in new[] { lo, hi })
                {
                    il.Emit(OpCodes.Ldloc, e); il.Emit(OpCodes.Ldloc, ctxAddr); il.Emit(OpCodes.Sub); il.Emit(OpCodes.Ldloc, lim); il.Emit(OpCodes.Bge_Un, notCtx);
                }
                il.Emit(OpCodes.Ldloc, ctxPtr); il.Emit(OpCodes.Conv_U8); il.Emit(OpCodes.Ldloc, ctxAddr); il.Emit(OpCodes.Sub); il.Emit(OpCodes.Stloc, bias);
                il.Emit(OpCodes.Br, have);
                il.MarkLabel(notCtx);
                var notStack = il.DefineLabel();
                foreach (var e in new[] { lo, hi })
                {
                    il.Emit(OpCodes.Ldloc, e); Imm64((long)stackBase); il.Emit(OpCodes.Sub); Imm64(TotalStack - a.Size); il.Emit(OpCodes.Bgt_Un, notStack);
                }
                Imm64((long)stackPtr - (long)stackBase); il.Emit(OpCodes.Stloc, bias);
                il.Emit(OpCodes.Br, have);
                // a map value (or anything the VM's regions hold)
                il.MarkLabel(notStack);
                Spill();
                il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldloc, lo); il.Emit(OpCodes.Ldloc, hi); il.Emit(OpCodes.Ldc_I4, a.Size); il.Emit(a.Write ? OpCodes.Ldc_I4_1 : OpCodes.Ldc_I4_0);
                CallOut(RegionBiasM);
                il.Emit(OpCodes.Ldloc, callRet); il.Emit(OpCodes.Stloc, bias);
                il.Emit(OpCodes.Ldloc, bias); il.Emit(OpCodes.Brfalse, slow);
                il.MarkLabel(have);
            }
            // nothing in the copy can end it early: its count is known now
            il.Emit(OpCodes.Ldloc, count); il.Emit(OpCodes.Ldloc, trips); Imm64(1); il.Emit(OpCodes.Add); Imm64(len); il.Emit(OpCodes.Mul); il.Emit(OpCodes.Add);
            if (topExit) { Imm64(1); il.Emit(OpCodes.Sub); }
            il.Emit(OpCodes.Stloc, count);
            il.MarkLabel(fastHead);
            fast = loop;
            // bottom-tested: the jump back goes to fastHead (Jump); top exit: the jump out is a forward
            // jump to the exit as in the ordinary code, and the goto back goes to fastHead
            for (int pc = loop.Head; pc <= loop.Cond; pc++) pc = EmitInsn(pc);
            fast = null;
            il.Emit(OpCodes.Br, topExit ? fastHead : labels[loop.Exit]);
        }
        // An access of the unchecked copy: its region was resolved on entry.
        bool FastAccess(int pc, int reg, short offset, int size, bool write, Action? value)
        {
            if (fast is null || !fastBias.TryGetValue(pc, out var bias)) return false;
            Ld(reg); Imm64(offset); il.Emit(OpCodes.Add); il.Emit(OpCodes.Ldloc, bias); il.Emit(OpCodes.Add); il.Emit(OpCodes.Conv_U);
            Deref(size, write, value);
            return true;
        }

        Label[]? pcSwitch = null;
        Label badCallx = il.DefineLabel();
        if (hasCallx)
        {
            pcSwitch = new Label[n];
            for (int i = 0; i < n; i++) pcSwitch[i] = leader[i] ? labels[i] : badCallx;
        }

        EmitEntry();

        // ---- body ----
        for (int pc = 0; pc < n; pc++)
        {
            il.MarkLabel(labels[pc]);
            if (loopAt[pc] is { } loop)
            {
                EmitFastLoop(loop);
                slowLoop = loop;
                il.MarkLabel(slowHead);
            }
            pc = EmitInsn(pc);
            if (slowLoop is { } l && pc >= l.End) slowLoop = null;
        }
        // Where the run starts (BpfCompiledState): the count and depth it goes on from, and for a
        // bpf_loop callback (BpfVm.InvokeCallback) the function's first instruction instead of 0.
        void EmitEntry()
        {
            il.Emit(OpCodes.Ldarg, 4); il.Emit(OpCodes.Ldfld, CountField); il.Emit(OpCodes.Stloc, count);
            il.Emit(OpCodes.Ldarg, 4); il.Emit(OpCodes.Ldfld, DepthField); il.Emit(OpCodes.Dup); il.Emit(OpCodes.Stloc, depth); il.Emit(OpCodes.Stloc, baseDepth);
            foreach (int f in funcEntries)
            {
                il.Emit(OpCodes.Ldarg, 4); il.Emit(OpCodes.Ldfld, EntryField); il.Emit(OpCodes.Ldc_I4, f); il.Emit(OpCodes.Beq, labels[f]);
            }
        }
        // bpf_loop: the VM runs the callbacks; their instructions are added to the count after it
        void EmitCallLoop(int pc)
        {
            Spill();
            il.Emit(OpCodes.Ldarg_0); Ld(1); Ld(2); Ld(3); Ld(4); Ld(10);
            il.Emit(OpCodes.Ldc_I4, pc); CountAt(pc);
            CallOut(CallLoopM);
            il.Emit(OpCodes.Ldloc, callRet); St(0);
            il.Emit(OpCodes.Ldloc, count); il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldfld, LoopInsnsField); il.Emit(OpCodes.Add); il.Emit(OpCodes.Stloc, count);
        }
        // bpf_tail_call (BpfVm.TailCall): on a fall-through the block goes on; when the target ran,
        // the count is the call's exact count plus the target's, and this frame exits with its r0
        void EmitTailCall(int pc)
        {
            Spill();
            il.Emit(OpCodes.Ldarg_0); Ld(1); Ld(2); Ld(3);
            il.Emit(OpCodes.Ldc_I4, pc); CountAt(pc);
            CallOut(TailCallM);
            var fall = il.DefineLabel();
            il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldfld, TailField); il.Emit(OpCodes.Ldfld, TailRanField); il.Emit(OpCodes.Brfalse, fall);
            il.Emit(OpCodes.Ldloc, callRet); St(0);
            CountAt(pc); il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldfld, TailField); il.Emit(OpCodes.Ldfld, TailInsnsField); il.Emit(OpCodes.Add); il.Emit(OpCodes.Stloc, count);
            EmitExit();
            il.MarkLabel(fall);
        }
        // exit: return to the caller's frame (its return site), or from the run at the base depth
        void EmitExit()
        {
            var ret = il.DefineLabel();
            if (returnSites.Count > 0)
            {
                il.Emit(OpCodes.Ldloc, depth); il.Emit(OpCodes.Ldloc, baseDepth); il.Emit(OpCodes.Beq, ret);
                il.Emit(OpCodes.Ldloc, depth); il.Emit(OpCodes.Ldc_I4_1); il.Emit(OpCodes.Sub); il.Emit(OpCodes.Stloc, depth);
                Ptr((byte*)frames); il.Emit(OpCodes.Ldloc, depth); il.Emit(OpCodes.Ldc_I4, 48); il.Emit(OpCodes.Mul); il.Emit(OpCodes.Add); il.Emit(OpCodes.Stloc, fp);
                for (int k = 1; k <= 5; k++)
                {
                    il.Emit(OpCodes.Ldloc, fp); il.Emit(OpCodes.Ldc_I4, k * 8); il.Emit(OpCodes.Add); il.Emit(OpCodes.Ldind_I8); St(k + 5);
                }
                il.Emit(OpCodes.Ldloc, fp); il.Emit(OpCodes.Ldind_I8); il.Emit(OpCodes.Conv_I4);
                il.Emit(OpCodes.Switch, returnSites.Select(s => labels[s]).ToArray());
                il.Emit(OpCodes.Br, ret); // unreachable
            }
            il.MarkLabel(ret);
            il.Emit(OpCodes.Ldarg, 4); il.Emit(OpCodes.Ldloc, count); il.Emit(OpCodes.Stfld, CountField);
            Ld(0); il.Emit(OpCodes.Ret);
        }
        // One instruction at pc (ordinary code, or the unchecked copy while fast is set); returns
        // the last pc it used (ld_imm64 uses two).
        int EmitInsn(int pc)
        {
            var d = code[pc];
            if (leader[pc] && blockLen[pc] > 0 && fast is null)
            {
                il.Emit(OpCodes.Ldloc, count); Imm64(blockLen[pc]); il.Emit(OpCodes.Add); il.Emit(OpCodes.Stloc, count);
            }
            int dst = d.Dst, src = d.Src;
            byte op = d.Op;
            int cls = op & 7;

            // ALU
            if ((cls == Op.ALU64 || cls == Op.ALU) && op != (Op.ALU | Op.END | Op.K) && op != (Op.ALU | Op.END | Op.X) && op != (Op.ALU64 | Op.END | Op.K))
            {
                bool is64 = cls == Op.ALU64;
                bool x = (op & Op.X) != 0;
                int aop = op & 0xf0;
                void Src()
                {
                    if (x) Ld(src); else Imm64(d.Imm);
                    if (!is64) il.Emit(OpCodes.Conv_U4);
                }
                void DstV()
                {
                    Ld(dst);
                    if (!is64) il.Emit(OpCodes.Conv_U4);
                }
                void Done()
                {
                    if (!is64) il.Emit(OpCodes.Conv_U8);
                    St(dst);
                }
                switch (aop)
                {
                    case Op.ADD: DstV(); Src(); il.Emit(OpCodes.Add); Done(); break;
                    case Op.SUB: DstV(); Src(); il.Emit(OpCodes.Sub); Done(); break;
                    case Op.MUL: DstV(); Src(); il.Emit(OpCodes.Mul); Done(); break;
                    case Op.OR: DstV(); Src(); il.Emit(OpCodes.Or); Done(); break;
                    case Op.AND: DstV(); Src(); il.Emit(OpCodes.And); Done(); break;
                    case Op.XOR: DstV(); Src(); il.Emit(OpCodes.Xor); Done(); break;
                    case Op.MOV:
                        if (x) Ld(src); else Imm64(d.Imm);
                        if (!is64) { il.Emit(OpCodes.Conv_U4); il.Emit(OpCodes.Conv_U8); }
                        St(dst);
                        break;
                    case Op.LSH or Op.RSH or Op.ARSH:
                    {
                        DstV();
                        if (aop == Op.ARSH && !is64) il.Emit(OpCodes.Conv_I4);
                        if (x) { Ld(src); il.Emit(OpCodes.Conv_I4); il.Emit(OpCodes.Ldc_I4, is64 ? 63 : 31); il.Emit(OpCodes.And); }
                        else il.Emit(OpCodes.Ldc_I4, (int)(d.Imm & (is64 ? 63 : 31)));
                        il.Emit(aop == Op.LSH ? OpCodes.Shl : aop == Op.RSH ? OpCodes.Shr_Un : OpCodes.Shr);
                        Done();
                        break;
                    }
                    case Op.NEG:
                        DstV(); il.Emit(OpCodes.Neg); Done(); break;
                    case Op.DIV or Op.MOD:
                        Ld(dst); if (x) Ld(src); else Imm64(d.Imm);
                        il.Emit(OpCodes.Call, Ops((aop == Op.DIV ? "Div" : "Mod") + (is64 ? "64" : "32")));
                        St(dst);
                        break;
                    default: throw new InvalidOperationException($"ALU op 0x{op:x2}");
                }
                return pc;
            }

            switch (op)
            {
                case IOp.SDIV64K or IOp.SDIV64X or IOp.SMOD64K or IOp.SMOD64X or IOp.SDIV32K or IOp.SDIV32X or IOp.SMOD32K or IOp.SMOD32X:
                {
                    bool x = op is IOp.SDIV64X or IOp.SMOD64X or IOp.SDIV32X or IOp.SMOD32X;
                    string name = op switch
                    {
                        IOp.SDIV64K or IOp.SDIV64X => "SDiv64", IOp.SMOD64K or IOp.SMOD64X => "SMod64",
                        IOp.SDIV32K or IOp.SDIV32X => "SDiv32", _ => "SMod32",
                    };
                    Ld(dst); if (x) Ld(src); else Imm64(d.Imm);
                    il.Emit(OpCodes.Call, Ops(name)); St(dst);
                    break;
                }
                case IOp.MOVSX64_8: Ld(src); il.Emit(OpCodes.Conv_I1); il.Emit(OpCodes.Conv_I8); St(dst); break;
                case IOp.MOVSX64_16: Ld(src); il.Emit(OpCodes.Conv_I2); il.Emit(OpCodes.Conv_I8); St(dst); break;
                case IOp.MOVSX64_32: Ld(src); il.Emit(OpCodes.Conv_I4); il.Emit(OpCodes.Conv_I8); St(dst); break;
                case IOp.MOVSX32_8: Ld(src); il.Emit(OpCodes.Conv_I1); il.Emit(OpCodes.Conv_U8); St(dst); break;
                case IOp.MOVSX32_16: Ld(src); il.Emit(OpCodes.Conv_I2); il.Emit(OpCodes.Conv_U8); St(dst); break;
                case IOp.LE16: Ld(dst); il.Emit(OpCodes.Conv_U2); il.Emit(OpCodes.Conv_U8); St(dst); break;
                case IOp.LE32: Ld(dst); il.Emit(OpCodes.Conv_U4); il.Emit(OpCodes.Conv_U8); St(dst); break;
                case IOp.NOP: break;
                case IOp.BSWAP16: Ld(dst); il.Emit(OpCodes.Call, Ops(nameof(BpfOps.Bswap16))); St(dst); break;
                case IOp.BSWAP32: Ld(dst); il.Emit(OpCodes.Call, Ops(nameof(BpfOps.Bswap32))); St(dst); break;
                case IOp.BSWAP64: Ld(dst); il.Emit(OpCodes.Call, Ops(nameof(BpfOps.Bswap64))); St(dst); break;

                case Op.LDDW:
                    Imm64(d.Imm); St(dst);
                    pc++;
                    if (fast is null) il.MarkLabel(labels[pc]);
                    break;

                case Op.LD | Op.ABS | Op.W or Op.LD | Op.ABS | Op.H or Op.LD | Op.ABS | Op.B or Op.LD | Op.IND | Op.W or Op.LD | Op.IND | Op.H or Op.LD | Op.IND | Op.B:
                {
                    int size = Op.SizeBytes(op);
                    var ok = il.DefineLabel();
                    Spill();
                    il.Emit(OpCodes.Ldarg_0);
                    if ((op & Op.IND) != 0) { Ld(src); il.Emit(OpCodes.Conv_U4); il.Emit(OpCodes.Ldc_I4, (int)d.Imm); il.Emit(OpCodes.Add); il.Emit(OpCodes.Conv_I8); }
                    else Imm64((int)d.Imm);
                    il.Emit(OpCodes.Ldc_I4, size);
                    il.Emit(OpCodes.Ldloca, tmp0);
                    il.Emit(OpCodes.Call, PacketM);
                    il.Emit(OpCodes.Stloc, tgt);
                    Reload();
                    il.Emit(OpCodes.Ldloc, tgt);
                    il.Emit(OpCodes.Brtrue, ok);
                    il.Emit(OpCodes.Ldarg, 4); CountAt(pc); il.Emit(OpCodes.Stfld, CountField);
                    il.Emit(OpCodes.Ldc_I8, 0L); il.Emit(OpCodes.Ret);
                    il.MarkLabel(ok);
                    il.Emit(OpCodes.Ldloc, tmp0); St(0);
                    break;
                }

                case Op.LDX | Op.MEM | Op.W or Op.LDX | Op.MEM | Op.H or Op.LDX | Op.MEM | Op.B or Op.LDX | Op.MEM | Op.DW
                    or Op.LDX | Op.MEMSX | Op.W or Op.LDX | Op.MEMSX | Op.H or Op.LDX | Op.MEMSX | Op.B:
                {
                    int size = Op.SizeBytes(op);
                    bool sx = (op & 0xe0) == Op.MEMSX;
                    var done = il.DefineLabel();
                    if (FastAccess(pc, src, d.Off, size, write: false, value: null)) { }
                    else if (EmitAccess(src, d.Off, size, write: false, done, value: null))
                    {
                        Spill();
                        il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldloc, addr); il.Emit(OpCodes.Ldc_I4, size); il.Emit(OpCodes.Ldc_I4, pc); CountAt(pc);
                        CallOut(LoadSlowM);
                        il.Emit(OpCodes.Ldloc, callRet);
                    }
                    il.MarkLabel(done);
                    if (sx)
                    {
                        il.Emit(size switch { 1 => OpCodes.Conv_I1, 2 => OpCodes.Conv_I2, _ => OpCodes.Conv_I4 });
                        il.Emit(OpCodes.Conv_I8);
                    }
                    St(dst);
                    break;
                }

                case Op.ST | Op.MEM | Op.W or Op.ST | Op.MEM | Op.H or Op.ST | Op.MEM | Op.B or Op.ST | Op.MEM | Op.DW
                    or Op.STX | Op.MEM | Op.W or Op.STX | Op.MEM | Op.H or Op.STX | Op.MEM | Op.B or Op.STX | Op.MEM | Op.DW:
                {
                    int size = Op.SizeBytes(op);
                    bool x = cls == Op.STX;
                    var done = il.DefineLabel();
                    void Val() { if (x) Ld(src); else Imm64(d.Imm); }
                    if (FastAccess(pc, dst, d.Off, size, write: true, Val)) { }
                    else if (EmitAccess(dst, d.Off, size, write: true, done, Val))
                    {
                        Spill();
                        il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldloc, addr); il.Emit(OpCodes.Ldc_I4, size); Val(); il.Emit(OpCodes.Ldc_I4, pc); CountAt(pc);
                        CallOut(StoreSlowM); // (the first store to a borrowed context copies it: Reload takes the new pointer)
                    }
                    il.MarkLabel(done);
                    break;
                }

                case Op.STX | Op.ATOMIC | Op.W or Op.STX | Op.ATOMIC | Op.DW:
                {
                    int size = op == (Op.STX | Op.ATOMIC | Op.DW) ? 8 : 4;
                    Spill();
                    Ld(src); il.Emit(OpCodes.Stloc, tmpS);
                    Ld(0); il.Emit(OpCodes.Stloc, tmp0);
                    il.Emit(OpCodes.Ldarg_0); Ld(dst); Imm64(d.Off); il.Emit(OpCodes.Add); il.Emit(OpCodes.Ldc_I4, size); il.Emit(OpCodes.Ldc_I4, pc); CountAt(pc);
                    il.Emit(OpCodes.Call, AtomicPtrM);
                    il.Emit(OpCodes.Ldc_I4, size); il.Emit(OpCodes.Ldc_I4, (int)d.Imm);
                    il.Emit(OpCodes.Ldloca, tmpS); il.Emit(OpCodes.Ldloca, tmp0);
                    CallOut(AtomicM);
                    // src == 0 (r0) with CMPXCHG: r0 wins, as in the interpreter (src written first, then r0)
                    il.Emit(OpCodes.Ldloc, tmpS); St(src);
                    il.Emit(OpCodes.Ldloc, tmp0); St(0);
                    break;
                }

                case Op.JMP | Op.CALL:
                    if (vm.ResolveHelper((int)d.Imm) is null)
                    {
                        Spill();
                        // no such helper for this program: CallHelper raises the fault
                        il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldc_I4, (int)d.Imm);
                        Ld(1); Ld(2); Ld(3); Ld(4); Ld(5);
                        il.Emit(OpCodes.Ldc_I4, pc); CountAt(pc);
                        CallOut(CallHelperM);
                    }
                    else
                    {
                        SpillFrom(6);
                        EmitDirectHelperCall((int)d.Imm, pc);
                    }
                    il.Emit(OpCodes.Ldloc, callRet); St(0);
                    break;

                case IOp.CALL_LOOP:
                    EmitCallLoop(pc);
                    break;

                case IOp.CALL_LOCAL:
                    PushFrame(pc);
                    LimitCheck(pc);
                    il.Emit(OpCodes.Br, labels[pc + 1 + d.Imm]);
                    break;

                case Op.JMP | Op.CALL | Op.X:
                {
                    var helper = il.DefineLabel();
                    Spill();
                    il.Emit(OpCodes.Ldarg_0); Ld(dst); il.Emit(OpCodes.Ldc_I4, pc); CountAt(pc);
                    il.Emit(OpCodes.Call, CallxTargetM); il.Emit(OpCodes.Stloc, tgt);
                    Reload();
                    il.Emit(OpCodes.Ldloc, tgt); il.Emit(OpCodes.Ldc_I4_0); il.Emit(OpCodes.Blt, helper);
                    PushFrame(pc);
                    LimitCheck(pc);
                    il.Emit(OpCodes.Ldloc, tgt); il.Emit(OpCodes.Switch, pcSwitch!); il.Emit(OpCodes.Br, badCallx);
                    il.MarkLabel(helper);
                    Spill();
                    il.Emit(OpCodes.Ldarg_0); Ld(dst); il.Emit(OpCodes.Conv_I4);
                    Ld(1); Ld(2); Ld(3); Ld(4); Ld(5);
                    il.Emit(OpCodes.Ldc_I4, pc); CountAt(pc);
                    CallOut(CallHelperM);
                    il.Emit(OpCodes.Ldloc, callRet); St(0);
                    break;
                }

                case Op.JMP | Op.EXIT:
                    EmitExit();
                    break;

                case IOp.CALL_TAIL:
                    EmitTailCall(pc);
                    break;

                case Op.JMP | Op.JA: Jump(pc, pc + 1 + d.Off); break;
                case Op.JMP32 | Op.JA: Jump(pc, pc + 1 + (int)d.Imm); break;

                default:
                    if (cls is Op.JMP or Op.JMP32)
                    {
                        EmitCondJump(il, d, cls == Op.JMP32, Ld, Imm64, pc, labels, Jump);
                        break;
                    }
                    il.Emit(OpCodes.Ldc_I4, pc); il.Emit(OpCodes.Ldc_I4, (int)op); CountAt(pc); il.Emit(OpCodes.Call, InvalidM); il.Emit(OpCodes.Throw);
                    break;
            }
            return pc;
        }
        il.MarkLabel(labels[n]);
        // falling off the end is refused at load; keep the IL verifiable anyway
        il.Emit(OpCodes.Ldc_I4, n - 1); il.Emit(OpCodes.Ldc_I4, 0); il.Emit(OpCodes.Ldloc, count); il.Emit(OpCodes.Call, InvalidM); il.Emit(OpCodes.Throw);
        il.MarkLabel(badCallx);
        il.Emit(OpCodes.Ldc_I4, -1); il.Emit(OpCodes.Ldc_I4, Op.JMP | Op.CALL | Op.X); il.Emit(OpCodes.Ldloc, count); il.Emit(OpCodes.Call, InvalidM); il.Emit(OpCodes.Throw);

        return new BpfCompiledProgram(dm.CreateDelegate<BpfCompiledEntry>(vm));
    }

    private static void EmitCondJump(ILGenerator il, DecodedInsn d, bool is32, Action<int> ld, Action<long> imm64, int pc, Label[] labels, Action<int, int> jump)
    {
        int jop = d.Op & 0xf0;
        bool x = (d.Op & Op.X) != 0;
        bool signed = jop is Op.JSGT or Op.JSGE or Op.JSLT or Op.JSLE;
        void Operand(Action load)
        {
            load();
            if (is32) il.Emit(signed ? OpCodes.Conv_I4 : OpCodes.Conv_U4);
        }
        Operand(() => ld(d.Dst));
        Operand(() => { if (x) ld(d.Src); else imm64(d.Imm); });
        var taken = il.DefineLabel();
        var fall = il.DefineLabel();
        switch (jop)
        {
            case Op.JEQ: il.Emit(OpCodes.Beq, taken); break;
            case Op.JNE: il.Emit(OpCodes.Bne_Un, taken); break;
            case Op.JGT: il.Emit(OpCodes.Bgt_Un, taken); break;
            case Op.JGE: il.Emit(OpCodes.Bge_Un, taken); break;
            case Op.JLT: il.Emit(OpCodes.Blt_Un, taken); break;
            case Op.JLE: il.Emit(OpCodes.Ble_Un, taken); break;
            case Op.JSGT: il.Emit(OpCodes.Bgt, taken); break;
            case Op.JSGE: il.Emit(OpCodes.Bge, taken); break;
            case Op.JSLT: il.Emit(OpCodes.Blt, taken); break;
            case Op.JSLE: il.Emit(OpCodes.Ble, taken); break;
            case Op.JSET:
                il.Emit(OpCodes.And);
                if (is32) il.Emit(OpCodes.Ldc_I4_0); else il.Emit(OpCodes.Ldc_I8, 0L);
                il.Emit(OpCodes.Bne_Un, taken);
                break;
            default: throw new InvalidOperationException($"jump op 0x{d.Op:x2}");
        }
        int target = pc + 1 + d.Off;
        if (target > pc)
        {
            // forward: branch straight to the target; `taken` is unused then
            il.Emit(OpCodes.Br, fall);
            il.MarkLabel(taken);
            il.Emit(OpCodes.Br, labels[target]);
            il.MarkLabel(fall);
            return;
        }
        il.Emit(OpCodes.Br, fall);
        il.MarkLabel(taken);
        jump(pc, target);
        il.MarkLabel(fall);
    }
}
