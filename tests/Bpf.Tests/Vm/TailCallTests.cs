using System.Buffers.Binary;
using System.Text;
using BpfTraceSim.Bpf.Helpers;
using BpfTraceSim.Bpf.Isa;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Perf;
using BpfTraceSim.Kernel.Printk;
using static BpfTraceSim.Bpf.Isa.Asm;
using static BpfTraceSim.Bpf.Tests.TestObjects;
using O = BpfTraceSim.Bpf.Isa.Op;

namespace BpfTraceSim.Bpf.Tests.Vm;

/// <summary>
/// bpf_tail_call with BPF_MAP_TYPE_PROG_ARRAY (kernel/bpf/core.c JMP_TAIL_CALL, kernel/bpf/arraymap.c):
/// the slots tailcall.bpf.o fills at load, the 33-call limit, out-of-range and empty slots, a tail
/// call from a subprogram, helpers inside the target, user-space slot updates, in the interpreter
/// and the compiled form (which must agree, instruction counts included).
/// </summary>
public class TailCallTests
{
    private const long ENOENT = -Errno.ENOENT, E2BIG = -Errno.E2BIG, EINVAL = -Errno.EINVAL;

    private sealed class World
    {
        public readonly SimMemory Memory = new();
        public readonly PrintkWorld Printk;
        public readonly BpfInstance Instance;
        public readonly BpfHelperTable Helpers;
        public readonly BpfObject Object = Load("tailcall.bpf.o");

        public World()
        {
            Printk = new PrintkWorld(Memory, new Kallsyms(), 1);
            var model = new CpuModel(0, printk: Printk.Cpu(0)) { ProgramWorld = Printk };
            Helpers = TracingHelpers.Register(BpfHelperTable.CreateGeneric(), _ => model);
            Instance = new BpfInstance(Object, Memory);
            Instance.Map("events").External = new PerfEventArray(1);
        }

        public BpfVm Vm(string function) => new(Instance, Object.FindProgram(null, function), Helpers);

        public void Index(uint i) => Instance.SetGlobal("cfg_index", BitConverter.GetBytes(i));

        public long Global(string name) => BinaryPrimitives.ReadInt64LittleEndian(Instance.GetGlobal(name));
    }

    private static BpfRunResult Run(BpfVm vm, bool compiled) => compiled ? vm.RunCompiled([], Ctx) : vm.Run([], Ctx);

    [Fact]
    public void The_loader_reads_the_prog_array_and_its_initial_slots()
    {
        var obj = Load("tailcall.bpf.o");
        var spec = obj.Maps[obj.FindMap("jmp_table")];
        Assert.Equal((BpfMapType.ProgArray, 4, 4, 4), (spec.Type, spec.KeySize, spec.ValueSize, spec.MaxEntries));
        Assert.Equal(new[] { new BpfProgSlot(0, "chain"), new BpfProgSlot(1, "emit") }, spec.ProgSlots.ToArray());
    }

    [Fact]
    public void User_space_lookup_gives_the_program_id_or_enoent()
    {
        var w = new World();
        var jt = w.Instance.Map("jmp_table");
        var progs = w.Object.Programs;
        Assert.Equal(BpfMap.ProgId(progs, w.Object.FindProgram(null, "chain")), jt.LookupProgSlot(0));
        Assert.Equal(BpfMap.ProgId(progs, w.Object.FindProgram(null, "emit")), jt.LookupProgSlot(1));
        Assert.Equal(ENOENT, jt.LookupProgSlot(2)); // empty
        Assert.Equal(ENOENT, jt.LookupProgSlot(4)); // past max_entries
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_self_chain_stops_after_MAX_TAIL_CALL_CNT_and_returns_the_last_programs_r0(bool compiled)
    {
        var w = new World();
        w.Index(0);
        var r = Run(w.Vm("entry"), compiled);
        Assert.Null(r.Fault);
        Assert.Equal(42, r.Ret); // chain's return after its tail call fell through
        Assert.Equal(1, w.Global("hits_entry"));
        Assert.Equal(HelperProtos.MaxTailCallCnt, w.Global("hits_chain"));
        Assert.Equal(0, w.Global("fell_through"));
        // entry: 8 instructions to its call; chain: 7 to its call, 33 times, then w0 = 42; exit
        Assert.Equal(8UL + 33 * 7 + 2, r.Instructions);
        Assert.Equal(34, r.Helpers.Count);
        Assert.All(r.Helpers.Take(33), h => Assert.Equal(new BpfHelperCall(12, "bpf_tail_call", 0), h));
        Assert.Equal(new BpfHelperCall(12, "bpf_tail_call", ENOENT), r.Helpers[33]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_tail_call_count_starts_again_with_each_run(bool compiled)
    {
        var w = new World();
        w.Index(0);
        var vm = w.Vm("entry");
        Run(vm, compiled);
        var r = Run(vm, compiled);
        Assert.Equal(42, r.Ret);
        Assert.Equal(2 * HelperProtos.MaxTailCallCnt, w.Global("hits_chain"));
    }

    [Theory]
    [InlineData(false, 2u)]
    [InlineData(true, 2u)]
    [InlineData(false, 4u)]
    [InlineData(true, 4u)]
    [InlineData(false, uint.MaxValue)]
    [InlineData(true, uint.MaxValue)]
    public void An_empty_slot_or_an_index_past_max_entries_falls_through(bool compiled, uint index)
    {
        var w = new World();
        w.Index(index);
        var r = Run(w.Vm("entry"), compiled);
        Assert.Equal(7, r.Ret);
        Assert.Equal(1, w.Global("fell_through"));
        Assert.Equal(0, w.Global("hits_chain"));
        Assert.Equal(new[] { new BpfHelperCall(12, "bpf_tail_call", ENOENT) }, r.Helpers.ToArray());
        Assert.Equal(8UL + 6, r.Instructions); // entry to its call, then fell_through++ and return 7
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Helpers_in_the_target_run_on_the_callers_cpu_and_trace_buffer(bool compiled)
    {
        var w = new World();
        w.Index(1);
        var r = Run(w.Vm("entry"), compiled);
        Assert.Null(r.Fault);
        Assert.Equal(3, r.Ret);
        Assert.Equal(0, w.Global("fell_through"));
        Assert.Equal(1, w.Global("hits_emit"));
        // the perf event array has no event in CPU 0's slot: -ENOENT, as for the caller itself
        Assert.Equal(new[]
        {
            new BpfHelperCall(12, "bpf_tail_call", 0), new BpfHelperCall(6, "bpf_trace_printk", 6), new BpfHelperCall(25, "bpf_perf_event_output", ENOENT),
        }, r.Helpers.ToArray());
        Assert.EndsWith(": bpf_trace_printk: emit 1\n", Encoding.UTF8.GetString(w.Printk.TracePipe.Read()));
    }

    [Theory]
    [InlineData(false, 1u, 3)]
    [InlineData(true, 1u, 3)]
    [InlineData(false, 2u, 102)]
    [InlineData(true, 2u, 102)]
    public void A_tail_call_from_a_subprogram_returns_the_targets_r0_to_the_subprograms_caller(bool compiled, uint index, long sub)
    {
        var w = new World();
        w.Index(index);
        var r = Run(w.Vm("from_sub"), compiled);
        Assert.Null(r.Fault);
        Assert.Equal(sub, w.Global("out_ret"));
        Assert.Equal(sub + 1000, r.Ret);
    }

    [Fact]
    public void Interpreter_and_compiled_form_agree_on_every_index()
    {
        foreach (string prog in new[] { "entry", "from_sub" })
            for (uint i = 0; i < 6; i++)
            {
                var a = new World();
                var b = new World();
                a.Index(i);
                b.Index(i);
                var ri = a.Vm(prog).Run([], Ctx);
                var rc = b.Vm(prog).RunCompiled([], Ctx);
                Assert.Equal((ri.Ret, ri.Instructions, ri.Fault), (rc.Ret, rc.Instructions, rc.Fault));
                Assert.Equal(ri.Helpers.ToArray(), rc.Helpers.ToArray());
            }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void User_space_updates_and_deletes_change_where_the_call_goes(bool compiled)
    {
        var w = new World();
        var jt = w.Instance.Map("jmp_table");
        var emit = w.Object.FindProgram(null, "emit");
        Assert.Equal(0, jt.UpdateProgSlot(2, emit, 0));
        w.Index(2);
        var vm = w.Vm("entry");
        Assert.Equal(3, Run(vm, compiled).Ret);
        Assert.Equal(0, jt.DeleteProgSlot(2));
        Assert.Equal(7, Run(vm, compiled).Ret);
        Assert.Equal(ENOENT, jt.DeleteProgSlot(2));
        Assert.Equal(E2BIG, jt.DeleteProgSlot(4));
        Assert.Equal(E2BIG, jt.UpdateProgSlot(4, emit, 0));
        Assert.Equal(EINVAL, jt.UpdateProgSlot(2, emit, 1)); // BPF_NOEXIST: only BPF_ANY is accepted, before the index check
        Assert.Equal(EINVAL, jt.UpdateProgSlot(9, emit, 2));
    }

    // ---- hand-assembled: the count an empty slot uses, owners, faults ----------------------------

    private static BpfInsn[] LdMap(int reg, int map) => LdImm64(reg, (uint)map, O.PSEUDO_MAP_IDX);

    /// <summary>r6 = ctx; n tail calls into slot 1 (empty), then one into slot 0; return 9.</summary>
    private static BpfInsn[] Caller(int emptyTries)
    {
        var l = new List<BpfInsn> { Mov64Reg(6, 1) };
        for (int i = 0; i < emptyTries; i++) l.AddRange(P(Mov64Reg(1, 6), LdMap(2, 0), Mov64(3, 1), Call(HelperProtos.TailCall)));
        l.AddRange(P(Mov64Reg(1, 6), LdMap(2, 0), Mov64(3, 0), Call(HelperProtos.TailCall), Mov64(0, 9), Exit()));
        return l.ToArray();
    }

    private static readonly BpfMapSpec Jt = new("jt", BpfMapType.ProgArray, 4, 4, 2, 0) { ProgSlots = [new(0, "target")] };

    private static BpfVm AsmVm(BpfInsn[] caller, BpfInsn[] target, string targetSection = "raw_tp/test")
    {
        var c = BpfProgram.FromInstructions("caller", caller);
        // decodeOnly: the targets that fault or loop for ever are refused by the verifier
        var t = BpfProgram.FromInstructions("target", target, targetSection, decodeOnly: true);
        var obj = BpfObject.FromPrograms([c, t], [Jt]);
        return new BpfVm(new BpfInstance(obj, new SimMemory()), c, BpfHelperTable.CreateGeneric());
    }

    [Theory]
    [InlineData(false, 32, 5)]
    [InlineData(true, 32, 5)]
    [InlineData(false, 33, 9)]
    [InlineData(true, 33, 9)]
    public void A_tail_call_into_an_empty_slot_still_uses_one_of_the_33(bool compiled, int emptyTries, long ret)
    {
        var r = Run(AsmVm(Caller(emptyTries), P(Mov64(0, 5), Exit())), compiled);
        Assert.Null(r.Fault);
        Assert.Equal(ret, r.Ret);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_fault_in_the_target_is_the_runs_fault_at_the_tail_call(bool compiled)
    {
        var r = Run(AsmVm(Caller(0), P(Mov64(1, 0), Ldx(O.DW, 0, 1, 0), Exit())), compiled);
        Assert.NotNull(r.Fault);
        Assert.Equal(5, r.Fault!.Insn); // the call in the caller (after mov, mov, ld_imm64)
        Assert.Equal("in tail-called program 'target' at insn 1: invalid memory access: read of 8 bytes at 0x0, outside every region the program may touch (the verifier would have refused this program)", r.Fault.Message);
        Assert.Equal(5UL + 2, r.Instructions); // the caller to its call, the target to the faulting load
    }

    [Fact]
    public void The_instruction_limit_covers_the_whole_chain()
    {
        // the target loops for ever: the run's limit stops it, in both forms, with the same count
        var loop = P(Mov64(0, 0), Alu64Imm(O.ADD, 0, 1), Ja(-2), Exit());
        foreach (bool compiled in new[] { false, true })
        {
            var vm = AsmVm(Caller(0), loop);
            vm.MaxInstructions = 1000;
            var r = Run(vm, compiled);
            Assert.NotNull(r.Fault);
            Assert.Contains("instruction limit of 1000 exceeded", r.Fault!.Message);
            Assert.StartsWith("in tail-called program 'target'", r.Fault.Message);
        }
    }

    [Fact]
    public void A_slot_refuses_a_program_of_another_type_with_einval()
    {
        var c = BpfProgram.FromInstructions("caller", Caller(0));
        var k = BpfProgram.FromInstructions("kp", P(Mov64(0, 1), Exit()), "kprobe/do_sys_open");
        var obj = BpfObject.FromPrograms([c, k], [new BpfMapSpec("jt", BpfMapType.ProgArray, 4, 4, 2, 0)]);
        var jt = new BpfInstance(obj, new SimMemory()).Map("jt");
        Assert.Equal(BpfProgramType.RawTracepoint, jt.Owner!.Value.Type); // the caller, which uses the map, owns it
        Assert.Equal(EINVAL, jt.UpdateProgSlot(0, k, 0));
        Assert.Equal(0, jt.UpdateProgSlot(0, c, 0));
    }

    [Fact]
    public void Tracing_programs_share_a_prog_array_only_with_the_same_attach_function()
    {
        var a = BpfProgram.FromInstructions("a", Caller(0), "fentry/do_sys_open");
        var b = BpfProgram.FromInstructions("b", P(Mov64(0, 0), Exit()), "fentry/do_sys_open");
        var x = BpfProgram.FromInstructions("x", P(Mov64(0, 0), Exit()), "fentry/vfs_read");
        var y = BpfProgram.FromInstructions("y", P(Mov64(0, 0), Exit()), "fexit/do_sys_open");
        var obj = BpfObject.FromPrograms([a, b, x, y], [new BpfMapSpec("jt", BpfMapType.ProgArray, 4, 4, 2, 0)]);
        var jt = new BpfInstance(obj, new SimMemory()).Map("jt");
        Assert.Equal(0, jt.UpdateProgSlot(0, b, 0));
        Assert.Equal(EINVAL, jt.UpdateProgSlot(1, x, 0));
        Assert.Equal(EINVAL, jt.UpdateProgSlot(1, y, 0));
    }

    [Fact]
    public void Kprobes_and_kretprobes_share_a_prog_array_sleepable_programs_do_not_share_with_others()
    {
        var a = BpfProgram.FromInstructions("a", Caller(0), "kprobe/do_sys_open");
        var b = BpfProgram.FromInstructions("b", P(Mov64(0, 0), Exit()), "kretprobe/vfs_read");
        var m = BpfProgram.FromInstructions("m", P(Mov64(0, 0), Exit()), "kprobe.multi/vfs_*");
        var f = BpfProgram.FromInstructions("f", Caller(0), "fentry/do_sys_open");
        var fs = BpfProgram.FromInstructions("fs", P(Mov64(0, 0), Exit()), "fentry.s/do_sys_open");
        var jt = new BpfInstance(BpfObject.FromPrograms([a, b, m], [new BpfMapSpec("jt", BpfMapType.ProgArray, 4, 4, 2, 0)]), new SimMemory()).Map("jt");
        Assert.Equal(0, jt.UpdateProgSlot(0, b, 0));   // both expected attach type 0
        Assert.Equal(EINVAL, jt.UpdateProgSlot(1, m, 0)); // BPF_TRACE_KPROBE_MULTI
        var jt2 = new BpfInstance(BpfObject.FromPrograms([f, fs], [new BpfMapSpec("jt", BpfMapType.ProgArray, 4, 4, 2, 0)]), new SimMemory()).Map("jt");
        Assert.Equal(EINVAL, jt2.UpdateProgSlot(0, fs, 0)); // sleepable differs
    }

    [Fact]
    public void Two_callers_of_different_types_fail_the_objects_load()
    {
        var a = BpfProgram.FromInstructions("a", Caller(0));
        var b = BpfProgram.FromInstructions("b", Caller(0), "kprobe/f");
        var obj = BpfObject.FromPrograms([a, b], [new BpfMapSpec("jt", BpfMapType.ProgArray, 4, 4, 2, 0)]);
        var e = Assert.Throws<BpfLoadException>(() => new BpfInstance(obj, new SimMemory()));
        Assert.Equal("asm: program 'b': BPF_PROG_LOAD refuses it with -EINVAL: its prog array 'jt' belongs to RawTracepoint programs (bpf_check_tail_call)", e.Message);
    }

    [Fact]
    public void An_initial_slot_the_owner_refuses_fails_the_objects_load()
    {
        var a = BpfProgram.FromInstructions("a", Caller(0));
        var k = BpfProgram.FromInstructions("k", P(Mov64(0, 0), Exit()), "kprobe/f");
        var obj = BpfObject.FromPrograms([a, k], [new BpfMapSpec("jt", BpfMapType.ProgArray, 4, 4, 2, 0) { ProgSlots = [new(1, "k")] }]);
        var e = Assert.Throws<BpfLoadException>(() => new BpfInstance(obj, new SimMemory()));
        Assert.Equal("asm: map 'jt': failed to initialize slot [1] to prog 'k': -EINVAL (the map's programs are RawTracepoint)", e.Message);
    }
}
