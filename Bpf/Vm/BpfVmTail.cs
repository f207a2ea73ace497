using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Kernel;

namespace BpfTraceSim.Bpf.Vm;

/// <summary>
/// bpf_tail_call (kernel/bpf/core.c ___bpf_prog_run JMP_TAIL_CALL, decoded as IOp.CALL_TAIL): the
/// checks in the kernel's order (index past max_entries, the run's tail_call_cnt at
/// MAX_TAIL_CALL_CNT, then the count taken and the slot read: an empty slot still uses one), and
/// on success the target program replaces the calling frame: it runs with the same context bytes,
/// a fresh stack and the caller's CPU, task and time, and its r0 is what the calling frame returns
/// (the program's return, or a subprogram's to its caller, as the x86-64 JIT's tail call from a
/// subprogram unwinds that frame only). A fall-through leaves r0 as it was; the verifier makes it
/// unreadable (RET_VOID).
/// </summary>
public sealed unsafe partial class BpfVm
{
    /// <summary>
    /// A VM's tail-call state, kept out of BpfVm's own fields: one more field there moved the hot
    /// fields the interpreter reads and made every interpreted program markedly slower.
    /// </summary>
    internal sealed class TailState
    {
        // The VM whose run a tail-called VM runs for (null: this VM is the run's own); that root
        // keeps the run's tail_call_cnt and one idle VM per target program (more only when a target
        // is still running: a tail call from a subprogram whose chain reaches the same program).
        public BpfVm? Root;
        public int Cnt;
        public List<BpfVm>? Pool;
        public bool Busy;
        /// <summary>Set by TailCall when the target ran (the caller then exits its frame with its r0).</summary>
        public bool Ran;
        /// <summary>The compiled form: instructions the tail-called chain ran (the caller adds them to its count).</summary>
        public ulong Insns;
        /// <summary>The program has a bpf_tail_call: the interpreter's instantiation with the tail-call branch runs it.</summary>
        public bool InProgram;
    }


    internal interface ITailMode
    {
        static abstract bool TailCalls { get; }
    }

    internal struct WithTailCalls : ITailMode
    {
        public static bool TailCalls => true;
    }

    internal struct NoTailCalls : ITailMode
    {
        public static bool TailCalls => false;
    }

    /// <summary>bpf_tail_call(ctx, map, index) at pc; count is the caller's count (as for CallLoop).</summary>
    internal ulong TailCall(ulong ctx, ulong mapHandle, ulong index, int pc, ulong count)
    {
        _tail.Ran = false;
        var map = Instance.MapByHandle(mapHandle);
        if (map is null || map.Spec.Type != BpfMapType.ProgArray)
            throw new BpfFaultException($"bpf_tail_call: r2 0x{mapHandle:x} is not a prog array map", pc) { Count = count };
        var root = _tail.Root ?? this;
        uint i = (uint)index; // the kernel reads the index as u32
        bool taken = i < (uint)map.Spec.MaxEntries && root._tail.Cnt < HelperProtos.MaxTailCallCnt;
        BpfProgram? target = null;
        if (taken)
        {
            root._tail.Cnt++;
            target = map.SlotProgram(i);
        }
        if (RecordHelperCalls) RecordCall(HelperProtos.TailCall, target is null ? unchecked((ulong)-Errno.ENOENT) : 0);
        if (target is null) return 0;
        ulong r0 = RunTailTarget(root, target, pc, count);
        _tail.Ran = true;
        return r0;
    }

    private ulong RunTailTarget(BpfVm root, BpfProgram target, int pc, ulong count)
    {
        bool interp = !_runsCompiled;
        if (interp && count > _budget) throw LimitFault(pc, count, MaxInstructions);
        var vm = root.IdleTailVm(target, pc, count);
        vm._tail.Busy = true;
        vm.MaxInstructions = MaxInstructions;
        try
        {
            var hc = Context;
            vm.PrepareRun(new ReadOnlySpan<byte>(_regions[1].Ptr, _ctxLen), _regions[1].Ptr, hc, 0, !interp);
            vm._calls = _calls;
            vm._signals = _signals;
            vm._rand = _rand;
            return interp ? vm.InterpretTail(this, pc, count) : vm.CompiledTail(this, target, pc, count);
        }
        finally
        {
            _calls = vm._calls;
            _signals = vm._signals;
            _rand = vm._rand;
            vm.EndRun();
            vm._tail.Busy = false;
        }
    }

    // The interpreter: the target's whole chain counts toward the caller's budget, like a callback's.
    private ulong InterpretTail(BpfVm caller, int pc, ulong count)
    {
        _budget = caller._budget - count;
        ulong r0;
        try { r0 = Interpret(_ctxAddr, (ulong)_ctxLen); }
        catch (BpfFaultException f)
        {
            throw TargetFault(f, pc, count + f.Count + _extra);
        }
        ulong b = _interpCount + _extra;
        caller._extra += b;
        caller._budget -= b;
        return r0;
    }

    // The compiled form counts the run's total: the target goes on from the caller's count.
    private ulong CompiledTail(BpfVm caller, BpfProgram target, int pc, ulong count)
    {
        _compiled ??= BpfIlCompiler.Compile(this);
        var st = new BpfCompiledState { Count = count };
        SaveArea[SavedPcSlot] = ulong.MaxValue;
        ulong r0;
        try { r0 = _compiled.Entry(_ctxAddr, (ulong)_ctxLen, FramePointer, ref st); }
        catch (BpfFaultException f)
        {
            if (SaveArea[SavedPcSlot] != ulong.MaxValue)
            {
                f.Insn = (int)SaveArea[SavedPcSlot];
                f.Count = SaveArea[SavedCountSlot];
            }
            throw TargetFault(f, pc, f.Count);
        }
        caller._tail.Insns = st.Count - count;
        return r0;
    }

    // A fault inside the target is the run's fault, at the tail call, naming where in the target it was.
    private BpfFaultException TargetFault(BpfFaultException f, int pc, ulong total) =>
        new($"in tail-called program '{Program.Name}' at insn {f.Insn}: {f.Message}", pc) { Count = total };

    private BpfVm IdleTailVm(BpfProgram target, int pc, ulong count)
    {
        _tail.Pool ??= [];
        foreach (var v in _tail.Pool)
            if (ReferenceEquals(v.Program, target) && !v._tail.Busy) return v;
        BpfVm vm;
        try
        {
            vm = new BpfVm(Instance, target, _host)
            {
                RecordHelperCalls = RecordHelperCalls, UncheckedLoops = UncheckedLoops, MaxInstructions = MaxInstructions,
            };
        }
        catch (BpfLoadException e)
        {
            throw new BpfFaultException($"bpf_tail_call: target '{target.Name}' does not load: {e.Message}", pc) { Count = count };
        }
        vm._tail.Root = this;
        _tail.Pool.Add(vm);
        return vm;
    }
}
