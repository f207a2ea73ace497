using System.Runtime.CompilerServices;
using BpfTraceSim.Kernel;

namespace BpfTraceSim.Bpf.Vm;

/// <summary>
/// bpf_loop's way back into the program: the helper (GenericHelpers) calls <see cref="InvokeCallback"/>
/// once per iteration, and the VM runs the callback subprogram as a call one frame below the caller,
/// in the form the run uses (interpreted, or the compiled entry of the same compiled program).
/// </summary>
public sealed unsafe partial class BpfVm
{
    // Instructions the callbacks of the bpf_loop call that just returned ran (its caller adds them).
    internal ulong _loopInsns;
    private LoopCall _loop;
    private bool _runsCompiled;

    /// <summary>The bpf_loop call in progress: where it is, its frame, the run's count so far.</summary>
    private struct LoopCall
    {
        public bool Active;
        public int Pc;
        public int Depth;
        public ulong Fp;
        public ulong Count;
    }

    /// <summary>Where the interpreter starts: instruction, call depth, frame pointer.</summary>
    private struct InterpEntry
    {
        public int Pc;
        public int Depth;
        public ulong Fp;
    }

    private InterpEntry _entry;
    // The interpreter counts per activation (a run, a callback): _budget is MaxInstructions less the
    // instructions counted outside the running activation, _extra those of finished callbacks.
    private ulong _budget, _extra;

    // Every bpf_loop call and callback puts back the state it changed (_loop, _entry, _budget) on
    // its way out, faults included, so between runs they already hold a run's start: a run sets only
    // what the interpreter counts from (every run's fixed cost; compiled runs count in the code).
    private void ResetLoop(bool compiled)
    {
        _runsCompiled = compiled;
        if (_loop.Active | _entry.Pc != 0) ResetLoopState();
        if (compiled) return;
        _budget = MaxInstructions;
        _extra = 0;
    }

    private void ResetLoopState()
    {
        _loop = default;
        _entry = new InterpEntry { Fp = FramePointer };
    }

    /// <summary>
    /// A call of bpf_loop at pc (decoded as IOp.CALL_LOOP): the helper with the caller's frame known.
    /// count is the caller's count: the run's total in the compiled form, the activation's own in the
    /// interpreter (which then lowers _budget by the callbacks' instructions instead).
    /// </summary>
    internal ulong CallLoop(ulong r1, ulong r2, ulong r3, ulong r4, ulong r10, int pc, ulong count)
    {
        var fn = HelperFns[HelperProtos.Loop] ?? throw new BpfFaultException("call to unknown helper bpf_loop#181", pc) { Count = count };
        bool interp = !_runsCompiled;
        if (interp && count > _budget) throw LimitFault(pc, count, MaxInstructions); // as a bpf-to-bpf call checks
        if (_ctxBorrowed) MaterializeCtx();
        var outer = _loop;
        _loop = new LoopCall { Active = true, Pc = pc, Depth = (int)((FramePointer - r10) / StackSize), Fp = r10, Count = count };
        // the compiled caller spilled its registers to the save area; a compiled callback spills there too
        ulong* saved = stackalloc ulong[16];
        new ReadOnlySpan<ulong>(SaveArea, 16).CopyTo(new Span<ulong>(saved, 16));
        if (interp) _budget -= count; // the caller's instructions are outside the callbacks' activations
        ulong r0;
        try
        {
            r0 = fn(this, r1, r2, r3, r4, 0);
        }
        catch (BpfFaultException f)
        {
            if (f.Insn < 0) { f.Insn = pc; f.Count = interp ? count : _loop.Count; } // the helper's own fault
            else if (interp) f.Count += count; // a callback's: its activation's count, plus the caller's
            throw;
        }
        finally
        {
            new ReadOnlySpan<ulong>(saved, 16).CopyTo(new Span<ulong>(SaveArea, 16));
            if (interp) _budget += count;
            _loopInsns = _loop.Count - count;
            _loop = outer;
        }
        if (RecordHelperCalls) (_calls ??= new()).Add(new BpfHelperCall(HelperProtos.Loop, BpfHelperNames.Name(HelperProtos.Loop), (long)r0));
        return r0;
    }

    /// <summary>
    /// Runs bpf_loop's callback fn(index, ctx) (r3-r5 zero) and returns its r0. Its instructions count
    /// toward the run's limit, checked after each call; the frame counts toward MaxFrames.
    /// </summary>
    public ulong InvokeCallback(ulong fn, ulong index, ulong ctx)
    {
        if (!_loop.Active) throw HelperFault("bpf_loop reached through callx: the verifier requires a direct call");
        ulong t = fn - CodeBase;
        if (t >= (ulong)Code.Length * 8 || (t & 7) != 0)
            throw HelperFault($"bpf_loop: callback 0x{fn:x} is not a function of the program");
        if (_loop.Depth >= MaxFrames - 1) throw DepthFault(_loop.Pc, _runsCompiled ? _loop.Count : 0);
        int target = (int)(t / 8), depth = _loop.Depth + 1;
        ulong fp = _loop.Fp - StackSize;
        return _runsCompiled ? CompiledCallback(target, depth, fp, index, ctx) : InterpretedCallback(target, depth, fp, index, ctx);
    }

    // The compiled form counts the run's total: the callback goes on from the caller's count.
    private ulong CompiledCallback(int target, int depth, ulong fp, ulong index, ulong ctx)
    {
        var st = new BpfCompiledState { Count = _loop.Count, Depth = depth, Entry = target };
        ulong r0 = _compiled!.Entry(index, ctx, fp, ref st);
        _loop.Count = st.Count;
        if (_loop.Count > MaxInstructions) throw LimitFault(_loop.Pc, _loop.Count, MaxInstructions);
        return r0;
    }

    // The interpreter counts the callback's own instructions (from 0) against the budget left.
    private ulong InterpretedCallback(int target, int depth, ulong fp, ulong index, ulong ctx)
    {
        var outer = _entry;
        _entry = new InterpEntry { Pc = target, Depth = depth, Fp = fp };
        ulong r0;
        try { r0 = Interpret(index, ctx); }
        finally { _entry = outer; }
        ulong b = _interpCount;
        _extra += b;
        if (b > _budget) throw LimitFault(_loop.Pc, 0, MaxInstructions); // the count is completed on the way out
        _budget -= b;
        _loop.Count += b;
        return r0;
    }
}
