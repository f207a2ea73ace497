using System.Text;
using BpfTraceSim.Bpf.Isa;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Verifier;
using BpfTraceSim.Kernel;
using static BpfTraceSim.Bpf.Isa.Asm;
using static BpfTraceSim.Bpf.Tests.TestObjects;
using O = BpfTraceSim.Bpf.Isa.Op;

namespace BpfTraceSim.Bpf.Tests.Verifier;

/// <summary>
/// The verifier's refusal rules (docs/verifier.md), each a small hand-assembled program with the
/// kernel's errno and the exact message of the log's last line; and what it must accept.
/// </summary>
public class VerifierTests
{
    private const int EACCES = Errno.EACCES, EINVAL = Errno.EINVAL, E2BIG = Errno.E2BIG;

    // formats in .rodata: "%d %d" @0, "%pi5" @6, "%pa" @11, "%y" @15, 13 x "%d" @18, "%pK" @45
    private static readonly byte[] Rodata = Encoding.ASCII.GetBytes("%d %d\0%pi5\0%pa\0%y\0" + string.Concat(Enumerable.Repeat("%d", 13)) + "\0%pK\0");

    internal static readonly BpfMapSpec[] Maps =
    [
        new("h", BpfMapType.Hash, 8, 8, 16, 0),                                            // 0
        new("pe", BpfMapType.PerfEventArray, 4, 4, 4, 0),                                  // 1
        new("rb", BpfMapType.RingBuf, 0, 0, 4096, 0),                                      // 2
        new(".rodata", BpfMapType.Array, 4, Rodata.Length, 1, 0) { InitialValue = Rodata, ReadOnly = true }, // 3
        new(".rodata.str", BpfMapType.Array, 4, 3, 1, 0) { InitialValue = "abc"u8.ToArray(), ReadOnly = true }, // 4
        new(".data", BpfMapType.Array, 4, 16, 1, 0) { InitialValue = new byte[16] },        // 5
        new("arr", BpfMapType.Array, 4, 16, 1, 0),                                         // 6
        new("jt", BpfMapType.ProgArray, 4, 4, 4, 0),                                       // 7
    ];

    private static BpfInsn[] LdMap(int reg, int map) => LdImm64(reg, (uint)map, O.PSEUDO_MAP_IDX);
    private static BpfInsn[] LdMapValue(int reg, int map, int off) => LdImm64(reg, ((ulong)(uint)off << 32) | (uint)map, O.PSEUDO_MAP_IDX_VALUE);

    /// <summary>r0 = bpf_map_lookup_elem(&h, &key) with a zeroed 8-byte key at fp-8 (the call is insn 5).</summary>
    private static readonly BpfInsn[] Lookup = P(St(O.DW, 10, -8, 0), Mov64Reg(2, 10), Alu64Imm(O.ADD, 2, -8), LdMap(1, 0), Call(1));

    /// <summary>Lookup, return 0 when NULL, then body with r0 the map value; returns 0.</summary>
    private static BpfInsn[] NonNull(params object[] body) =>
        P(Lookup, JmpImm(O.JNE, 0, 0, 2), Mov64(0, 0), Exit(), P(body), Mov64(0, 0), Exit());

    /// <summary>r0 = bpf_ringbuf_reserve(&rb, 8, 0) (the call is insn 4).</summary>
    private static readonly BpfInsn[] Reserve = P(LdMap(1, 2), Mov64(2, 8), Mov64(3, 0), Call(HelperProtos.RingbufReserve));

    /// <summary>Reserve; return 0 when NULL; body with r6 the sample.</summary>
    private static BpfInsn[] Reserved(params object[] body) =>
        P(Reserve, Mov64Reg(6, 0), JmpImm(O.JNE, 6, 0, 2), Mov64(0, 0), Exit(), P(body), Mov64(0, 0), Exit());

    /// <summary>
    /// main writes fp+mainOff and calls a subprogram (insn 4) that writes its own fp+subOff, then
    /// tail-calls through jt with the ctx it was passed; both return 0.
    /// </summary>
    private static BpfInsn[] TailFromSub(short mainOff, short subOff) => P(
        St(O.DW, 10, mainOff, 42), CallLocal(2), Mov64(0, 0), Exit(),
        St(O.DW, 10, subOff, 1), LdMap(2, 7), Mov64(3, 0), Call(HelperProtos.TailCall), Mov64(0, 0), Exit());

    /// <summary>r0 = a random u64 (an unknown scalar), kept in r6.</summary>
    private static readonly BpfInsn[] Random = P(Call(HelperProtos.GetPrandomU32), Mov64Reg(6, 0));

    /// <summary>bpf_snprintf(fp-32, 16, fmt at .rodata+fmtOff, fp-8 (8 bytes, or NULL), dataLen).</summary>
    private static BpfInsn[] Snprintf(int fmtOff, int dataLen, bool nullArgs = false, int fmtMap = 3) => P(
        St(O.DW, 10, -8, 7), Mov64Reg(1, 10), Alu64Imm(O.ADD, 1, -32), Mov64(2, 16), LdMapValue(3, fmtMap, fmtOff),
        nullArgs ? Mov64(4, 0) : P(Mov64Reg(4, 10), Alu64Imm(O.ADD, 4, -8)), Mov64(5, dataLen), Call(HelperProtos.Snprintf), Exit());

    /// <summary>bpf_loop(4, callback, r3 as set by ctxSetup, 0); exit; then the callback (after ctxSetup's instructions).</summary>
    private static BpfInsn[] LoopCall(BpfInsn ctxSetup, params object[] callback) => LoopCall([ctxSetup], callback);

    private static BpfInsn[] LoopCall(BpfInsn[] ctxSetup, params object[] callback) =>
        P(Mov64(1, 4), LdImm64(2, (ulong)(ctxSetup.Length + 4), O.PSEUDO_FUNC), ctxSetup, Mov64(4, 0), Call(HelperProtos.Loop), Exit(), P(callback));

    public sealed record Rule(string Name, int Errno, string Message, BpfInsn[] Insns, string Section = "raw_tp/test", bool Unpriv = false)
    {
        public override string ToString() => Name;
    }

    public static readonly Rule[] Rules =
    [
        // registers
        new("R0 not set at exit", EACCES, "R0 !read_ok", P(Exit())),
        new("read of a never-written register", EACCES, "R2 !read_ok", P(Mov64Reg(0, 2), Exit())),
        new("helper argument never written", EACCES, "R1 !read_ok", P(Call(HelperProtos.KtimeGetNs), Call(HelperProtos.GetCurrentComm), Exit())),
        new("caller-saved registers are lost after a call", EACCES, "R1 !read_ok", P(Mov64(1, 5), Call(HelperProtos.KtimeGetNs), Mov64Reg(0, 1), Exit())),
        // memory through non-pointers and maybe-NULL pointers
        new("load through a scalar", EACCES, "R1 invalid mem access 'scalar'", P(Mov64(1, 5), Ldx(O.DW, 0, 1, 0), Exit())),
        new("map value used before the NULL check", EACCES, "R0 invalid mem access 'map_value_or_null'", P(Lookup, Ldx(O.DW, 0, 0, 0), Exit())),
        new("ringbuf sample used before the NULL check", EACCES, "R0 invalid mem access 'ringbuf_mem_or_null'", P(Reserve, St(O.DW, 0, 0, 1), Exit())),
        new("sample used after submit", EACCES, "R6 invalid mem access 'scalar'",
            P(Reserved(Mov64Reg(1, 6), Mov64(2, 0), Call(HelperProtos.RingbufSubmit), Ldx(O.DW, 0, 6, 0)))),
        // map values
        new("map value read past its end", EACCES, "R0 min value is outside of the allowed memory range", NonNull(Ldx(O.DW, 1, 0, 8))),
        new("map value index without an upper bound", EINVAL, "math between map_value pointer and register with unbounded min value is not allowed",
            NonNull(Mov64Reg(7, 0), Random, Alu64Reg(O.ADD, 7, 6), Ldx(O.B, 1, 7, 0))),
        new("map value index bounded past the value", EACCES, "R7 max value is outside of the allowed memory range",
            NonNull(Mov64Reg(7, 0), Random, Alu64Imm(O.AND, 6, 0xff), Alu64Reg(O.ADD, 7, 6), Ldx(O.B, 1, 7, 0))),
        new("map value index up to 4G", EACCES, "R7 unbounded memory access, make sure to bounds check any such access",
            NonNull(Mov64Reg(7, 0), Random, Alu32Reg(O.MOV, 6, 6), Alu64Reg(O.ADD, 7, 6), Ldx(O.B, 1, 7, 0))),
        new("map value index that may be negative", EACCES, "R7 min value is negative, either use unsigned index or do a if (index >=0) check.",
            NonNull(Mov64Reg(7, 0), Random, Alu64Imm(O.AND, 6, 0xf), Alu64Imm(O.SUB, 6, 8), Alu64Reg(O.ADD, 7, 6), Ldx(O.B, 1, 7, 0))),
        new("store into .rodata", EACCES, "write into map forbidden, value_size=49 off=0 size=1", P(LdMapValue(1, 3, 0), St(O.B, 1, 0, 1), Mov64(0, 0), Exit())),
        // stack
        new("store above the frame pointer", EACCES, "invalid write to stack R10 off=8 size=8", P(St(O.DW, 10, 8, 0), Mov64(0, 0), Exit())),
        new("load below the 512-byte frame", EACCES, "invalid read from stack R10 off=-520 size=8", P(Ldx(O.DW, 0, 10, -520), Exit())),
        new("uninitialised stack read (unprivileged)", EACCES, "invalid read from stack off -8+0 size 8", P(Ldx(O.DW, 0, 10, -8), Exit()), Unpriv: true),
        new("helper reads uninitialised stack (unprivileged)", EACCES, "invalid indirect read from stack R2 off -8+0 size 8",
            P(Mov64Reg(2, 10), Alu64Imm(O.ADD, 2, -8), LdMap(1, 0), Call(1), Mov64(0, 0), Exit()), Unpriv: true),
        new("helper key above the frame", EACCES, "invalid indirect access to stack R2 off=0 size=8", P(Mov64Reg(2, 10), LdMap(1, 0), Call(1), Mov64(0, 0), Exit())),
        new("partial spill of a pointer", EACCES, "invalid size of register spill", P(Stx(O.W, 10, 10, -8), Mov64(0, 0), Exit())),
        new("partial fill of a spilled pointer", EACCES, "invalid size of register fill", P(Stx(O.DW, 10, 10, -8), Ldx(O.W, 0, 10, -8), Exit())),
        // context
        new("raw_tp context read past its 12 arguments", EACCES, "invalid bpf_context access off=96 size=8", P(Ldx(O.DW, 0, 1, 96), Exit())),
        new("raw_tp context written", EACCES, "invalid bpf_context access off=0 size=8", P(St(O.DW, 1, 0, 0), Mov64(0, 0), Exit())),
        new("raw_tp context misaligned", EACCES, "invalid bpf_context access off=2 size=4", P(Ldx(O.W, 0, 1, 2), Exit())),
        new("kprobe context past pt_regs", EACCES, "invalid bpf_context access off=168 size=8", P(Ldx(O.DW, 0, 1, 168), Exit()), "kprobe/f"),
        new("perf_event registers read narrow", EACCES, "invalid bpf_context access off=0 size=4", P(Ldx(O.W, 0, 1, 0), Exit()), "perf_event"),
        new("modified context dereferenced", EACCES, "dereference of modified ctx ptr R1 off=8 disallowed", P(Alu64Imm(O.ADD, 1, 8), Ldx(O.DW, 0, 1, 0), Exit())),
        new("atomic add into the context", EACCES, "BPF_ATOMIC stores into R1 ctx is not allowed", P(Mov64(2, 1), Atomic(O.DW, 1, 2, 0, O.ADD), Mov64(0, 0), Exit())),
        // pointer arithmetic
        new("arithmetic on a map pointer", EACCES, "R1 pointer arithmetic on map_ptr prohibited", P(LdMap(1, 0), Alu64Imm(O.ADD, 1, 8), Mov64(0, 0), Exit())),
        new("arithmetic before the NULL check", EACCES, "R0 pointer arithmetic on map_value_or_null prohibited, null-check it first", P(Lookup, Alu64Imm(O.ADD, 0, 8), Exit())),
        new("32-bit pointer arithmetic", EACCES, "R1 32-bit pointer arithmetic prohibited", P(Mov64Reg(1, 10), Alu32Imm(O.ADD, 1, 8), Mov64(0, 0), Exit())),
        new("bitwise and on a pointer", EACCES, "R1 bitwise operator &= on pointer prohibited", P(Mov64Reg(1, 10), Alu64Imm(O.AND, 1, 8), Mov64(0, 0), Exit())),
        new("multiplying a pointer", EACCES, "R1 pointer arithmetic with *= operator prohibited", P(Mov64Reg(1, 10), Alu64Imm(O.MUL, 1, 2), Mov64(0, 0), Exit())),
        new("adding two pointers", EACCES, "R1 pointer += pointer prohibited", P(Mov64Reg(1, 10), Mov64Reg(2, 10), Alu64Reg(O.ADD, 1, 2), Mov64(0, 0), Exit())),
        new("scalar minus pointer", EACCES, "R1 tried to subtract pointer from scalar", P(Mov64(1, 5), Mov64Reg(2, 10), Alu64Reg(O.SUB, 1, 2), Mov64(0, 0), Exit())),
        new("pointer offset out of bounds", EINVAL, "math between fp pointer and 536870912 is not allowed", P(Mov64Reg(1, 10), Alu64Imm(O.ADD, 1, 1 << 29), Mov64(0, 0), Exit())),
        // ALU
        new("division by constant zero", EINVAL, "div by zero", P(Mov64(0, 1), Alu64Imm(O.DIV, 0, 0), Exit())),
        new("shift by 64", EINVAL, "invalid shift 64", P(Mov64(0, 1), Alu64Imm(O.LSH, 0, 64), Exit())),
        new("32-bit shift by 32", EINVAL, "invalid shift 32", P(Mov64(0, 1), Alu32Imm(O.RSH, 0, 32), Exit())),
        // helpers and program types
        new("helper the simulator does not have", EINVAL, "unknown func bpf_redirect_map#51", P(Call(51), Exit())),
        new("helper id past __BPF_FUNC_MAX_ID", EINVAL, "invalid func unknown#100000", P(Call(100000), Exit())),
        new("seq helper outside an iterator", EINVAL, "program of this type cannot use helper bpf_seq_write#127", P(Call(HelperProtos.SeqWrite), Exit())),
        new("tracing helper in a socket filter", EINVAL, "program of this type cannot use helper bpf_get_current_pid_tgid#14", P(Call(14), Exit()), "socket"),
        new("map argument is a scalar", EACCES, "R1 type=scalar expected=map_ptr", P(Mov64(1, 0), Mov64Reg(2, 10), Call(1), Exit())),
        new("context argument is a scalar", EACCES, "R1 type=scalar expected=ctx",
            P(Mov64(1, 0), LdMap(2, 1), Mov64(3, 0), Mov64Reg(4, 10), Mov64(5, 0), Call(HelperProtos.PerfEventOutput), Exit())),
        new("context argument modified", EACCES, "dereference of modified ctx ptr R1 off=8 disallowed",
            P(Alu64Imm(O.ADD, 1, 8), LdMap(2, 1), Mov64(3, 0), Mov64Reg(4, 10), Mov64(5, 0), Call(HelperProtos.PerfEventOutput), Exit())),
        new("memory argument is a scalar", EACCES, "R1 type=scalar expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_",
            P(Mov64(1, 0), Mov64(2, 8), Call(HelperProtos.GetCurrentComm), Exit())),
        new("lookup in a prog array", EINVAL, "cannot pass map_type 3 into func bpf_map_lookup_elem#1",
            P(St(O.W, 10, -4, 0), Mov64Reg(2, 10), Alu64Imm(O.ADD, 2, -4), LdMap(1, 7), Call(1), Mov64(0, 0), Exit())),
        new("tail call through an array map", EINVAL, "cannot pass map_type 2 into func bpf_tail_call#12",
            P(LdMap(2, 6), Mov64(3, 0), Call(HelperProtos.TailCall), Mov64(0, 0), Exit())),
        new("r0 read after a tail call (RET_VOID)", EACCES, "R0 !read_ok", P(LdMap(2, 7), Mov64(3, 0), Call(HelperProtos.TailCall), Exit())),
        new("tail call context argument is a scalar", EACCES, "R1 type=scalar expected=ctx",
            P(Mov64(1, 0), LdMap(2, 7), Mov64(3, 0), Call(HelperProtos.TailCall), Mov64(0, 0), Exit())),
        new("tail call while a ringbuf sample is held", EINVAL, "tail_call would lead to reference leak",
            P(Mov64Reg(7, 1), Reserve, Mov64Reg(6, 0), JmpImm(O.JNE, 6, 0, 2), Mov64(0, 0), Exit(),
              Mov64Reg(1, 7), LdMap(2, 7), Mov64(3, 0), Call(HelperProtos.TailCall),
              Mov64Reg(1, 6), Mov64(2, 0), Call(HelperProtos.RingbufSubmit), Mov64(0, 0), Exit())),
        new("tail call from a subprogram under 256 bytes of caller stack", EACCES,
            "tail_calls are not allowed when call stack of previous frames is 256 bytes. Too large", TailFromSub(-256, -8)),
        new("tail call chain past the 512-byte combined stack", EACCES, "combined stack size of 2 calls is 528. Too large", TailFromSub(-200, -320)),
        new("lookup in a perf event array", EINVAL, "cannot pass map_type 4 into func bpf_map_lookup_elem#1",
            P(St(O.W, 10, -4, 0), Mov64Reg(2, 10), Alu64Imm(O.ADD, 2, -4), LdMap(1, 1), Call(1), Mov64(0, 0), Exit())),
        new("perf output into a hash map", EINVAL, "cannot pass map_type 1 into func bpf_perf_event_output#25",
            P(LdMap(2, 0), Mov64(3, 0), St(O.DW, 10, -8, 0), Mov64Reg(4, 10), Alu64Imm(O.ADD, 4, -8), Mov64(5, 8), Call(HelperProtos.PerfEventOutput), Exit())),
        new("zero size for ARG_CONST_SIZE", EACCES, "R2 invalid zero-sized read: u64=[0,0]",
            P(Mov64Reg(1, 10), Alu64Imm(O.ADD, 1, -16), Mov64(2, 0), Call(HelperProtos.GetCurrentComm), Exit())),
        new("size that may be negative", EACCES, "R2 min value is negative, either use unsigned or 'var &= const'",
            P(Random, Mov64Reg(1, 10), Alu64Imm(O.ADD, 1, -16), Mov64Reg(2, 6), Call(HelperProtos.GetCurrentComm), Exit())),
        new("size up to 4G", EACCES, "R2 unbounded memory access, use 'var &= const' or 'if (var < const)'",
            P(Random, Mov64Reg(1, 10), Alu64Imm(O.ADD, 1, -16), Alu32Reg(O.MOV, 2, 6), Mov64(3, 0), Call(HelperProtos.ProbeReadKernel), Exit())),
        new("size larger than the stack buffer", EACCES, "invalid indirect access to stack R1 off=-16 size=32",
            P(Mov64Reg(1, 10), Alu64Imm(O.ADD, 1, -16), Mov64(2, 32), Call(HelperProtos.GetCurrentComm), Exit())),
        new("size larger than the map value", EACCES, "R1 min value is outside of the allowed memory range",
            NonNull(Mov64Reg(1, 0), Mov64(2, 16), Mov64(3, 0), Call(HelperProtos.ProbeReadKernel))),
        new("variable size bounded past the buffer", EACCES, "invalid indirect access to stack R1 off=-16 size=255",
            P(Random, Mov64Reg(1, 10), Alu64Imm(O.ADD, 1, -16), Mov64Reg(2, 6), Alu64Imm(O.AND, 2, 0xff), Mov64(3, 0), Call(HelperProtos.ProbeReadKernel), Exit())),
        // printf-like helpers
        new("snprintf format in writable data", EACCES, "R3 does not point to a readonly map'", Snprintf(0, 8, fmtMap: 5)),
        new("snprintf format without a NUL", EINVAL, "string is not zero-terminated", Snprintf(0, 8, fmtMap: 4)),
        new("snprintf %pi5", EINVAL, "Invalid format string", Snprintf(6, 8)),
        new("snprintf %pa", EINVAL, "Invalid format string", Snprintf(11, 8)),
        new("snprintf unknown conversion", EINVAL, "Invalid format string", Snprintf(15, 8)),
        new("snprintf two conversions, one argument", EINVAL, "Invalid format string", Snprintf(0, 8)),
        new("snprintf NULL arguments with a length", EACCES, "R4 type=scalar expected=fp", Snprintf(0, 8, nullArgs: true)),
        // ring buffer references
        new("reservation not released on a path", EINVAL, "Unreleased reference id=1 alloc_insn=4", Reserved()),
        new("reservation size not a constant", EACCES, "R2 is not a known constant'",
            P(Random, LdMap(1, 2), Mov64Reg(2, 6), Alu64Imm(O.AND, 2, 0xff), Mov64(3, 0), Call(HelperProtos.RingbufReserve), Mov64(0, 0), Exit())),
        new("submit of a stack pointer", EACCES, "R1 type=fp expected=ringbuf_mem", P(Mov64Reg(1, 10), Mov64(2, 0), Call(HelperProtos.RingbufSubmit), Mov64(0, 0), Exit())),
        new("submit of an offset sample", EACCES, "R1 must have zero offset when passed to release func or trusted arg to kfunc",
            Reserved(Mov64Reg(1, 6), Alu64Imm(O.ADD, 1, 8), Mov64(2, 0), Call(HelperProtos.RingbufSubmit))),
        new("sample written past its size", EACCES, "R6 min value is outside of the allowed memory range",
            Reserved(St(O.DW, 6, 8, 1), Mov64Reg(1, 6), Mov64(2, 0), Call(HelperProtos.RingbufSubmit))),
        // control flow and complexity
        new("dead code", EINVAL, "unreachable insn 2", P(Mov64(0, 0), Exit(), Mov64(0, 1), Exit())),
        new("loop that never changes state", EINVAL, "infinite loop detected at insn 1", P(Mov64(0, 0), JmpImm(O.JEQ, 0, 0, -1), Exit())),
        new("bounded loop past the complexity limit", E2BIG, "BPF program is too large. Processed 1000001 insn",
            P(Mov64(0, 0), Alu64Imm(O.ADD, 0, 1), JmpImm(O.JLT, 0, 2_000_000, -2), Exit())),
        new("recursion past 8 frames", E2BIG, "the call stack of 9 frames is too deep", P(Mov64(0, 0), CallLocal(1), Exit(), CallLocal(-1), Exit())),
        new("legacy packet load in a tracing program", EINVAL, "BPF_LD_[ABS|IND] instructions not allowed for this program type", P(LdAbs(O.W, 0), Exit())),
        new("callx", EINVAL, "BPF_CALL uses reserved fields", P(Mov64(1, 0), CallX(1), Exit())),
        // bpf_loop callbacks (callback_ret_range [0, 1]; arg2 ARG_PTR_TO_FUNC, arg3 ARG_PTR_TO_STACK_OR_NULL)
        new("bpf_loop callback returns 2", EINVAL, "At callback return the register R0 has smin=2 smax=2 should have been in [0, 1]",
            LoopCall(Mov64(3, 0), Mov64(0, 2), Exit())),
        new("bpf_loop callback returns an unknown value", EINVAL, "At callback return the register R0 has unknown scalar value should have been in [0, 1]",
            LoopCall(Mov64(3, 0), Call(HelperProtos.GetPrandomU32), Exit())),
        new("bpf_loop callback is a scalar", EACCES, "R2 type=scalar expected=func",
            P(Mov64(1, 4), Mov64(2, 0), Mov64(3, 0), Mov64(4, 0), Call(HelperProtos.Loop), Exit())),
        new("bpf_loop context is a map pointer", EACCES, "R3 type=map_ptr expected=fp",
            LoopCall(LdMap(3, 0), Mov64(0, 0), Exit())),
        // the task and attach-point helpers
        new("get_func_ip in a raw tracepoint", Errno.ENOTSUPP, "func bpf_get_func_ip#173 not supported for program type 17", P(Call(HelperProtos.GetFuncIp), Exit())),
        new("get_func_ip in tp_btf (no trampoline)", Errno.ENOTSUPP, "func bpf_get_func_ip#173 supported only for fentry/fexit/fmod_ret programs",
            P(Call(HelperProtos.GetFuncIp), Exit()), "tp_btf/sched_switch"),
        new("get_attach_cookie in a raw tracepoint", EINVAL, "program of this type cannot use helper bpf_get_attach_cookie#174", P(Call(HelperProtos.GetAttachCookie), Exit())),
        new("strncmp against writable data", EACCES, "R3 does not point to a readonly map'",
            P(St(O.DW, 10, -8, 0), Mov64Reg(1, 10), Alu64Imm(O.ADD, 1, -8), Mov64(2, 8), LdMapValue(3, 5, 0), Call(HelperProtos.Strncmp), Exit())),
        new("ns_current_pid_tgid buffer smaller than its size", EACCES, "invalid indirect access to stack R3 off=-4 size=8",
            P(Mov64(1, 4), Mov64(2, 1), Mov64Reg(3, 10), Alu64Imm(O.ADD, 3, -4), Mov64(4, 8), Call(HelperProtos.GetNsCurrentPidTgid), Exit())),
        // return values
        new("iterator returns 2", EINVAL, "At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]", P(Mov64(0, 2), Exit()), "iter/task"),
        new("fentry returns 1", EINVAL, "At program exit the register R0 has smin=1 smax=1 should have been in [0, 0]", P(Mov64(0, 1), Exit()), "fentry/f"),
        new("iterator returns a pointer", EINVAL, "At program exit the register R0 is not a known value (fp)", P(Mov64Reg(0, 10), Exit()), "iter/task"),
        // the task iterator's ctx, struct bpf_iter__task (btf_ctx_access with the target's ctx_arg_info)
        new("iter/task ctx->task read before its NULL check", EACCES, "R2 invalid mem access 'trusted_ptr_or_null_'",
            P(Ldx(O.DW, 2, 1, 8), Ldx(O.W, 0, 2, 0), Mov64(0, 0), Exit()), "iter/task"),
        new("iter/task ctx read past bpf_iter__task", EACCES, "invalid bpf_context access off=16 size=8",
            P(Ldx(O.DW, 0, 1, 16), Mov64(0, 0), Exit()), "iter/task"),
        new("iter/task meta read past bpf_iter_meta", EACCES, "access beyond struct bpf_iter_meta at off 24 size 8",
            P(Ldx(O.DW, 2, 1, 0), Ldx(O.DW, 0, 2, 24), Mov64(0, 0), Exit()), "iter/task"),
    ];

    public static TheoryData<string> RuleNames()
    {
        var d = new TheoryData<string>();
        foreach (var r in Rules) d.Add(r.Name);
        return d;
    }

    internal static BpfVerifierException Refuse(BpfInsn[] insns, string section = "raw_tp/test", bool unpriv = false)
    {
        var prog = BpfProgram.FromInstructions("t", insns, section);
        var opt = unpriv ? new BpfVerifierOptions { AllowUninitStack = false } : null;
        return Assert.Throws<BpfVerifierException>(() => BpfVerifier.Verify(prog, Maps, null, opt));
    }

    [Theory]
    [MemberData(nameof(RuleNames))]
    public void Rule_is_refused_with_the_kernel_errno_and_message(string name)
    {
        var rule = Rules.Single(r => r.Name == name);
        var e = Refuse(rule.Insns, rule.Section, rule.Unpriv);
        Assert.Equal(rule.Message, e.KernelMessage);
        Assert.Equal(rule.Errno, e.Errno);
        Assert.EndsWith(rule.Message + "\n", e.Log);
    }

    [Fact]
    public void The_table_has_at_least_40_rules_with_distinct_names() =>
        Assert.True(Rules.Select(r => r.Name).Distinct().Count() == Rules.Length && Rules.Length >= 40, $"{Rules.Length} rules");

    [Fact]
    public void Map_value_overrun_log_names_the_access_before_the_rule()
    {
        var e = Refuse(NonNull(Ldx(O.DW, 1, 0, 8)));
        var lines = e.Log.TrimEnd('\n').Split('\n');
        Assert.Equal("invalid access to map value, value_size=8 off=8 size=8", lines[^2]);
        Assert.Equal(9, e.Insn);
        Assert.StartsWith("9: (79)", lines[^3]);
    }

    [Fact]
    public void Ringbuf_overrun_log_names_the_memory_size()
    {
        var e = Refuse(Reserved(St(O.DW, 6, 8, 1), Mov64Reg(1, 6), Mov64(2, 0), Call(HelperProtos.RingbufSubmit)));
        Assert.Equal("invalid access to memory, mem_size=8 off=8 size=8", e.Log.TrimEnd('\n').Split('\n')[^2]);
    }

    [Fact]
    public void Tail_call_from_a_subprogram_under_240_bytes_of_caller_stack_loads()
    {
        Accept(TailFromSub(-240, -8));
        Accept(TailFromSub(-200, -304)); // 208 + 304 = 512: the combined stack may be exactly 512
    }

    [Fact]
    public void Tail_call_leak_log_names_the_reference_before_the_rule()
    {
        var rule = Rules.Single(r => r.Name == "tail call while a ringbuf sample is held");
        var lines = Refuse(rule.Insns).Log.TrimEnd('\n').Split('\n');
        Assert.Equal("Unreleased reference id=1 alloc_insn=5", lines[^2]); // the reserve call after r7 = r1
    }

    // ---- what must load ---------------------------------------------------------------------------

    private static BpfVerifierResult Accept(BpfInsn[] insns, string section = "raw_tp/test") =>
        BpfVerifier.Verify(BpfProgram.FromInstructions("t", insns, section), Maps);

    [Fact]
    public void Snprintf_with_13_arguments_loads_and_fails_at_run_time_with_einval()
    {
        // 104 bytes of arguments on the stack; bpf_bprintf_prepare accepts 13 at load, the helper refuses > 12.
        var init = new List<BpfInsn>();
        for (int i = 1; i <= 13; i++) init.Add(St(O.DW, 10, (short)(-8 * i), i));
        var prog = P(init.ToArray(), Mov64Reg(1, 10), Alu64Imm(O.ADD, 1, -136), Mov64(2, 16), LdMapValue(3, 3, 18),
            Mov64Reg(4, 10), Alu64Imm(O.ADD, 4, -104), Mov64(5, 104), Call(HelperProtos.Snprintf), Exit());
        Accept(prog);
        var run = Kernel.Printk.PrintkHelpers.VerifierCheck(Kernel.Printk.PrintfHelper.Snprintf, Rodata.AsSpan(18), 0, false, 104);
        Assert.Null(run); // the existing load-time checks agree
    }

    [Fact]
    public void Snprintf_with_pK_loads_as_bpf_bprintf_prepare_allows_kernel_pointers() => Accept(Snprintf(45, 8));

    [Theory]
    [InlineData("kprobe/vfs_read")]
    [InlineData("fentry/vfs_read")]
    [InlineData("fexit/vfs_read")]
    public void Get_func_ip_loads_for_kprobes_and_trampolines(string section) =>
        BpfVerifier.Verify(BpfProgram.FromInstructions("t", P(Call(HelperProtos.GetFuncIp), Mov64(0, 0), Exit()), section), Maps);

    [Theory]
    [InlineData("kprobe/f")]
    [InlineData("tracepoint/a/b")]
    [InlineData("perf_event")]
    [InlineData("fentry/f")]
    public void Get_attach_cookie_loads_where_the_kernel_offers_it(string section) =>
        BpfVerifier.Verify(BpfProgram.FromInstructions("t", P(Call(HelperProtos.GetAttachCookie), Mov64(0, 0), Exit()), section), Maps);

    [Fact]
    public void Current_task_btf_is_a_kernel_pointer_the_program_may_load_through() =>
        Accept(P(Call(HelperProtos.GetCurrentTaskBtf), Ldx(O.W, 0, 0, 16), Exit()));

    [Fact]
    public void Current_task_without_btf_is_a_scalar() =>
        Assert.Equal("R0 invalid mem access 'scalar'", Refuse(P(Call(HelperProtos.GetCurrentTask), Ldx(O.W, 0, 0, 16), Exit())).KernelMessage);

    [Fact]
    public void Null_checked_lookup_reads_and_writes_the_value() =>
        Accept(NonNull(Ldx(O.DW, 1, 0, 0), Alu64Imm(O.ADD, 1, 1), Stx(O.DW, 0, 1, 0)));

    [Fact]
    public void Bounded_index_into_a_map_value_loads() =>
        Accept(NonNull(Mov64Reg(7, 0), Random, Alu64Imm(O.AND, 6, 7), Alu64Reg(O.ADD, 7, 6), Ldx(O.B, 1, 7, 0)));

    [Fact]
    public void Index_bounded_by_a_branch_loads() =>
        Accept(NonNull(Mov64Reg(7, 0), Random, JmpImm(O.JGT, 6, 7, 2), Alu64Reg(O.ADD, 7, 6), Ldx(O.B, 1, 7, 0)));

    [Fact]
    public void Reservation_submitted_or_discarded_on_every_path_loads() =>
        Accept(P(Reserve, Mov64Reg(7, 0), JmpImm(O.JNE, 7, 0, 2), Mov64(0, 0), Exit(),
            St(O.DW, 7, 0, 1), Random, Mov64Reg(1, 7), Mov64(2, 0), JmpImm(O.JSET, 6, 1, 2), Call(HelperProtos.RingbufSubmit), Ja(1),
            Call(HelperProtos.RingbufDiscard), Mov64(0, 0), Exit()));

    [Fact]
    public void Readonly_data_is_a_constant_at_load()
    {
        // "%d %d" starts with '%' (0x25): the branch on it is decided, so the other side is never walked.
        var r = Accept(P(LdMapValue(1, 3, 0), Ldx(O.B, 0, 1, 0), JmpImm(O.JEQ, 0, 0x25, 1), Ldx(O.DW, 0, 0, 0), Exit()));
        Assert.True(r.Processed < 6, r.Log);
    }

    [Fact]
    public void Uninitialised_stack_is_an_unknown_value_for_a_privileged_loader() =>
        Accept(P(Ldx(O.DW, 0, 10, -8), Exit()));

    [Fact]
    public void Loop_of_a_thousand_iterations_loads_and_counts_its_instructions()
    {
        var r = Accept(P(Mov64(0, 0), Alu64Imm(O.ADD, 0, 1), JmpImm(O.JLT, 0, 1000, -2), Exit()));
        Assert.Equal(2 * 1000 + 2, r.Processed);
        Assert.StartsWith($"processed {r.Processed} insns (limit 1000000) max_states_per_insn ", r.Log);
    }

    [Fact]
    public void Pruning_joins_branches_that_end_in_the_same_state()
    {
        // 20 diamonds on unknown values: without pruning 2^20 paths.
        var body = new List<BpfInsn>(P(Random, Mov64(0, 0)));
        for (int i = 0; i < 20; i++) body.AddRange(P(JmpImm(O.JSET, 6, 1 << i, 1), Mov64(1, 0), Mov64(1, 1)));
        body.Add(Exit());
        var r = Accept(body.ToArray());
        Assert.True(r.Processed < 400, r.Log);
    }

    [Fact]
    public void Subprograms_are_verified_with_the_callers_arguments() =>
        Accept(P(Mov64(1, 3), CallLocal(1), Exit(), Mov64Reg(0, 1), Alu64Imm(O.MUL, 0, 2), Exit()));

    // ---- every object of the repository ------------------------------------------------------------

    public static TheoryData<string> Objects()
    {
        var d = new TheoryData<string>();
        string dir = Path.GetDirectoryName(Path_("x"))!;
        foreach (var f in Directory.GetFiles(dir, "*.bpf.o").Select(Path.GetFileName).Order())
            // refused on purpose: core_bad (CoreReloTests), ksym_typed_{bad,missing,incompat} (TypedKsymTests), tailcall_bad (LoaderTests),
            // st_iter_task_nocheck (Client.Tests IterProgramTests: ctx->task read before its NULL check)
            if (f is not ("unsupported.bpf.o" or "isa_v4.bpf.o" or "core_bad.bpf.o" or "ksym_typed_bad.bpf.o" or "ksym_typed_missing.bpf.o"
                or "ksym_typed_incompat.bpf.o" or "tailcall_bad.bpf.o" or "st_iter_task_nocheck.bpf.o")) d.Add(f!);
        return d;
    }

    private static BpfObject LoadAny(string name) =>
        name.StartsWith("vm-programs/", StringComparison.Ordinal) ? BpfObject.Load(Path.Combine(Path.GetDirectoryName(Path_("x"))!, "..", "Bpf.Tests", name)) : Load(name);

    [Theory]
    [MemberData(nameof(Objects))]
    public void Every_test_object_program_is_accepted(string file)
    {
        var obj = LoadAny(file);
        foreach (var p in obj.Programs)
        {
            var r = BpfVerifier.Verify(p, obj.Maps);
            Assert.True(r.Processed > 0);
        }
    }

    [Fact]
    public void Isa_v4_object_is_refused_for_its_atomics_on_the_context_with_the_source_line()
    {
        var obj = Load("isa_v4.bpf.o");
        var e = Assert.Throws<BpfVerifierException>(() => BpfVerifier.Verify(obj.Programs[0], obj.Maps));
        Assert.Equal("BPF_ATOMIC stores into R1 ctx is not allowed", e.KernelMessage);
        Assert.Equal(EACCES, e.Errno);
        Assert.NotNull(e.Line);
        Assert.StartsWith("; ", e.Log);
        Assert.Contains("isa_v4.bpf.c:", e.Log);
    }

    [Fact]
    public void The_loop_object_counts_ten_thousand_iterations()
    {
        var obj = Load("loop.bpf.o");
        var r = BpfVerifier.Verify(obj.Programs[0], obj.Maps);
        Assert.InRange(r.Processed, 100_000, 1_000_000);
    }
}
