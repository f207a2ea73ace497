using System.Text;
using BpfTraceSim.Bpf.Helpers;
using BpfTraceSim.Bpf.Isa;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Printk;
using static BpfTraceSim.Bpf.Isa.Asm;
using static BpfTraceSim.Bpf.Tests.TestObjects;
using O = BpfTraceSim.Bpf.Isa.Op;

namespace BpfTraceSim.Bpf.Tests.Helpers;

/// <summary>
/// bpf_loop (kernel/bpf/bpf_iter.c): its errno checks, the callback's index/ctx/stop protocol, the
/// instruction count and limits, in the interpreter and the compiled form (which must agree).
/// </summary>
public class LoopHelperTests
{
    private const long EINVAL = -Errno.EINVAL, E2BIG = -Errno.E2BIG;

    private static BpfRunResult Run(BpfVm vm, bool compiled) => compiled ? vm.RunCompiled([], Ctx) : vm.Run([], Ctx);

    /// <summary>main: r0 = bpf_loop(r1 = nr (64-bit), callback at insn 8, r3 = NULL, r4 = flags); exit. Then cb.</summary>
    private static BpfInsn[] LoopProg(ulong nr, int flags, params object[] cb) => P(
        LdImm64(1, nr),          // 0-1
        LdImm64(2, 5, O.PSEUDO_FUNC), // 2-3: insn 8
        Mov64(3, 0),             // 4
        Mov64(4, flags),         // 5
        Call(HelperProtos.Loop), // 6
        Exit(),                  // 7
        P(cb));                  // 8..

    private static readonly BpfInsn[] ReturnZero = P(Mov64(0, 0), Exit());
    private static readonly BpfInsn[] StopAtFirst = P(Mov64(0, 1), Exit());

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Flags_are_checked_before_the_count(bool compiled)
    {
        var r = Run(Asm(LoopProg(HelperProtos.MaxLoops + 1UL, 1, ReturnZero)), compiled);
        Assert.Equal(EINVAL, r.Ret);
        Assert.Equal(new[] { new BpfHelperCall(181, "bpf_loop", EINVAL) }, r.Helpers.ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void More_than_BPF_MAX_LOOPS_is_E2BIG_and_calls_nothing(bool compiled)
    {
        var r = Run(Asm(LoopProg(HelperProtos.MaxLoops + 1UL, 0, ReturnZero)), compiled);
        Assert.Equal(E2BIG, r.Ret);
        Assert.Equal(6UL, r.Instructions); // ld_imm64 x2 (one each), mov x2, call, exit: no callback ran
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Exactly_BPF_MAX_LOOPS_is_allowed(bool compiled)
    {
        var r = Run(Asm(LoopProg(HelperProtos.MaxLoops, 0, StopAtFirst)), compiled);
        Assert.Equal(1, r.Ret); // stopped at index 0: i + 1
        Assert.Equal(6UL + 2, r.Instructions);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Nr_loops_is_a_u32_the_upper_half_is_ignored(bool compiled)
    {
        var r = Run(Asm(LoopProg((1UL << 32) | 3, 0, ReturnZero)), compiled);
        Assert.Equal(3, r.Ret);
        Assert.Equal(6UL + 3 * 2, r.Instructions);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Zero_loops_returns_zero_without_a_call(bool compiled)
    {
        var r = Run(Asm(LoopProg(0, 0, ReturnZero)), compiled);
        Assert.Equal(0, r.Ret);
        Assert.Equal(6UL, r.Instructions);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Callback_gets_the_index_in_r1_and_stops_on_a_non_zero_return(bool compiled)
    {
        // cb: r0 = (r1 == 4); exit  -> stops at index 4, bpf_loop returns 5
        var r = Run(Asm(LoopProg(100, 0, Mov64(0, 0), JmpImm(O.JNE, 1, 4, 1), Mov64(0, 1), Exit())), compiled);
        Assert.Equal(5, r.Ret);
        Assert.Equal(6UL + 4 * 3 + 4, r.Instructions);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Callback_keeps_the_callers_callee_saved_registers_and_has_its_own_frame(bool compiled)
    {
        // main keeps 7 in r6 and 9 at fp-8 across the call; cb writes r6 and its own fp-8
        var insns = P(
            Mov64(6, 7), St(O.DW, 10, -8, 9),       // 0, 1
            Mov64(1, 2), LdImm64(2, 10, O.PSEUDO_FUNC), Mov64(3, 0), Mov64(4, 0), // 2, 3-4 (insn 14), 5, 6
            Call(HelperProtos.Loop),                 // 7
            Ldx(O.DW, 1, 10, -8), Alu64Imm(O.MUL, 1, 100), Alu64Reg(O.ADD, 0, 1), Alu64Imm(O.MUL, 6, 1000), Alu64Reg(O.ADD, 0, 6), // 8-12
            Exit(),                                  // 13
            Mov64(6, 55), St(O.DW, 10, -8, 66), Mov64(0, 0), Exit()); // 14: the callback
        var r = Run(Asm(insns), compiled);
        Assert.Null(r.Fault);
        Assert.Equal(2 + 900 + 7000, r.Ret);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Nested_loops_count_every_callback_and_record_inner_calls_first(bool compiled)
    {
        // outer cb: bpf_loop(2, inner cb, NULL, 0); r0 = 0. inner cb: r0 = 0.
        var insns = P(
            LoopProg(3, 0,
                Mov64(1, 2), LdImm64(2, 6, O.PSEUDO_FUNC), Mov64(3, 0), Mov64(4, 0), Call(HelperProtos.Loop), Mov64(0, 0), Exit(), // 8-15: inner at 16
                Mov64(0, 0), Exit()));
        var r = Run(Asm(insns), compiled);
        Assert.Equal(3, r.Ret);
        var inner = new BpfHelperCall(181, "bpf_loop", 2);
        Assert.Equal(new[] { inner, inner, inner, new BpfHelperCall(181, "bpf_loop", 3) }, r.Helpers.ToArray());
        Assert.Equal(6UL + 3 * (7 + 2 * 2), r.Instructions);
    }

    [Fact]
    public void Interpreter_and_compiled_form_agree_on_the_clang_object()
    {
        var obj = Load("loop_cb.bpf.o");
        foreach (var p in obj.Programs)
        {
            if (p.Section == "raw_tp/loop_print") continue; // needs the tracing model, below
            var a = MakeVm(obj, p.Section);
            var b = MakeVm(obj, p.Section);
            var ra = a.Run([], Ctx);
            var rb = b.RunCompiled([], Ctx);
            Assert.Null(ra.Fault);
            Assert.Equal(ra.Ret, rb.Ret);
            Assert.Equal(ra.Instructions, rb.Instructions);
            Assert.Equal(ra.Helpers.ToArray(), rb.Helpers.ToArray());
            Assert.Equal(a.Instance.GetGlobal("out_ret"), b.Instance.GetGlobal("out_ret"));
            Assert.Equal(a.Instance.GetGlobal("out_sum"), b.Instance.GetGlobal("out_sum"));
        }
    }

    private static long Global(BpfVm vm, string name) => BitConverter.ToInt64(vm.Instance.GetGlobal(name));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Clang_sum_into_a_stack_struct(bool compiled)
    {
        var vm = MakeVm(Load("loop_cb.bpf.o"), "raw_tp/loop_sum");
        var r = Run(vm, compiled);
        Assert.Null(r.Fault);
        Assert.Equal(10, Global(vm, "out_ret"));
        Assert.Equal(45, Global(vm, "out_sum"));
        Assert.Equal(10, Global(vm, "out_calls"));
        // main: 9 instructions to the call and 10 after it (ld_imm64 counts once); add_index: 9 per call
        Assert.Equal(19UL + 10 * 9, r.Instructions);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Clang_callback_that_stops_early(bool compiled)
    {
        var vm = MakeVm(Load("loop_cb.bpf.o"), "raw_tp/loop_stop");
        var r = Run(vm, compiled);
        Assert.Null(r.Fault);
        Assert.Equal(4, Global(vm, "out_ret")); // stopped at index 3: i + 1
        Assert.Equal(0 + 1 + 2, Global(vm, "out_sum"));
        Assert.Equal(3, Global(vm, "out_calls"));
        // main 20; add_until: 12 per continuing call, 4 for the stopping one
        Assert.Equal(20UL + 3 * 12 + 4, r.Instructions);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Clang_callback_calls_bpf_printk(bool compiled)
    {
        var mem = new SimMemory();
        var world = new PrintkWorld(mem, new Kallsyms(), 1);
        var model = new CpuModel(0, printk: world.Cpu(0)) { ProgramWorld = world };
        var helpers = TracingHelpers.Register(BpfHelperTable.CreateGeneric(), _ => model);
        var obj = Load("loop_cb.bpf.o");
        var vm = new BpfVm(new BpfInstance(obj, mem), obj.FindProgram("raw_tp/loop_print", null), helpers);
        var r = Run(vm, compiled);
        Assert.Null(r.Fault);
        Assert.Equal(3, Global(vm, "out_ret"));
        var printk = new BpfHelperCall(6, "bpf_trace_printk", 4); // strlen("cb 0"): the newline trace_pipe shows is not counted
        Assert.Equal(new[] { printk, printk, printk, new BpfHelperCall(181, "bpf_loop", 3) }, r.Helpers.ToArray());
        string[] lines = Encoding.UTF8.GetString(world.TracePipe.Read()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["cb 0", "cb 1", "cb 2"], lines.Select(l => l[(l.IndexOf("bpf_trace_printk: ", StringComparison.Ordinal) + 18)..]).ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Runaway_callbacks_hit_the_instruction_limit_at_the_call(bool compiled)
    {
        var vm = Asm(LoopProg(HelperProtos.MaxLoops, 0, ReturnZero));
        vm.MaxInstructions = 1000;
        var r = Run(vm, compiled);
        Assert.Equal(6, r.Fault!.Insn);
        Assert.StartsWith("instruction limit of 1000 exceeded", r.Fault.Message);
        Assert.Equal(1001UL, r.Instructions); // 5 before the call, then 2 per callback until past 1000
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_callback_that_calls_bpf_loop_on_itself_runs_out_of_frames(bool compiled)
    {
        // cb: bpf_loop(1, cb, NULL, 0) - the verifier refuses this; the VM faults at the eighth frame
        var r = Run(Asm(LoopProg(1, 0, Mov64(1, 1), LdImm64(2, unchecked((ulong)-2L), O.PSEUDO_FUNC), Mov64(3, 0), Mov64(4, 0), Call(HelperProtos.Loop), Exit())), compiled);
        Assert.Equal(13, r.Fault!.Insn);
        Assert.StartsWith("call stack too deep: more than 8 frames", r.Fault.Message);
    }

    [Fact]
    public void The_clang_object_passes_the_verifier()
    {
        var obj = Load("loop_cb.bpf.o");
        Assert.Equal(["raw_tp/loop_cfg", "raw_tp/loop_print", "raw_tp/loop_stop", "raw_tp/loop_sum"], obj.Programs.Select(p => p.Section).Order().ToArray());
        var tracing = TracingHelpers.Register(BpfHelperTable.CreateGeneric(), _ => new CpuModel(0));
        foreach (var p in obj.Programs) MakeVm(obj, p.Section, helpers: tracing); // the verifier runs in BpfVm's constructor
    }
}
