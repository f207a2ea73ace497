using System.Text;
using BpfTraceSim.Bpf.Helpers;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Perf;
using BpfTraceSim.Kernel.Printk;
using BpfTraceSim.Kernel.Seq;
using static BpfTraceSim.Bpf.Tests.TestObjects;

namespace BpfTraceSim.Bpf.Tests.Helpers;

public class TracingHelperTests
{
    /// <summary>CPU 0's kernel model, its programs seeing world.</summary>
    private static Func<int, CpuModel> Host(PrintkWorld w)
    {
        var model = new CpuModel(0, printk: w.Cpu(0)) { ProgramWorld = w };
        return _ => model;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Perf_output_to_an_empty_slot_then_printk_reaches_the_trace_buffer(bool compiled)
    {
        var mem = new SimMemory();
        var world = new PrintkWorld(mem, new Kallsyms(), 1);
        var helpers = TracingHelpers.Register(BpfHelperTable.CreateGeneric(), Host(world));
        var obj = Load("perf_printk.bpf.o");
        var inst = new BpfInstance(obj, mem);
        inst.Map("events").External = new PerfEventArray(4);
        var vm = new BpfVm(inst, obj.Programs[0], helpers);
        var r = compiled ? vm.RunCompiled([], Ctx) : vm.Run([], Ctx);
        Assert.Null(r.Fault);
        Assert.Equal(0xfffffffeL, r.Ret); // the C returns (int)ret: w0 is zero-extended
        Assert.Equal(new[] { new BpfHelperCall(25, "bpf_perf_event_output", -2), new BpfHelperCall(6, "bpf_trace_printk", 29) }, r.Helpers.ToArray());
        string pipe = Encoding.UTF8.GetString(world.TracePipe.Read());
        Assert.EndsWith(": bpf_trace_printk: out ret=-2 v=1122334455667788\n", pipe);
    }

    [Fact]
    public void Unbound_perf_event_array_is_a_fault_with_the_source_line()
    {
        var mem = new SimMemory();
        var helpers = TracingHelpers.Register(BpfHelperTable.CreateGeneric(), Host(new PrintkWorld(mem, new Kallsyms(), 1)));
        var obj = Load("perf_printk.bpf.o");
        var vm = new BpfVm(new BpfInstance(obj, mem), obj.Programs[0], helpers);
        var r = vm.Run([], Ctx);
        Assert.Equal(10, r.Fault!.Insn);
        Assert.Equal("perf_printk.bpf.c:16", r.Fault.LineText);
        Assert.Equal("map 'events' is not a perf_event_array bound to simulated perf events (the verifier would have refused this program)", r.Fault.Message);
    }

    [Fact]
    public void A_helper_fault_in_compiled_code_names_the_call_and_count_the_interpreter_does()
    {
        // the compiled code calls a resolved helper directly, not through CallHelper's catch
        var mem = new SimMemory();
        var helpers = TracingHelpers.Register(BpfHelperTable.CreateGeneric(), Host(new PrintkWorld(mem, new Kallsyms(), 1)));
        var obj = Load("perf_printk.bpf.o");
        var inst = new BpfInstance(obj, mem);
        var interp = new BpfVm(inst, obj.Programs[0], helpers).Run([], Ctx);
        var compiled = new BpfVm(inst, obj.Programs[0], helpers).RunCompiled([], Ctx);
        Assert.Equal(10, compiled.Fault!.Insn);
        Assert.Equal(interp.Fault, compiled.Fault);
        Assert.Equal(interp.Instructions, compiled.Instructions);
        Assert.True(compiled.Instructions > 0);
        // a later run without the fault is not stamped with the old call's instruction
        inst.Map("events").External = new PerfEventArray(4);
        var vm = new BpfVm(inst, obj.Programs[0], helpers);
        Assert.Null(vm.RunCompiled([], Ctx).Fault);
    }

    [Fact]
    public void Seq_helpers_are_refused_outside_iterators()
    {
        var mem = new SimMemory();
        var helpers = TracingHelpers.Register(BpfHelperTable.CreateGeneric(), Host(new PrintkWorld(mem, new Kallsyms(), 1)));
        var prog = BpfProgram.FromInstructions("t", [Isa.Asm.Call(127), Isa.Asm.Exit()], "raw_tp/x");
        var e = Assert.Throws<BpfVerifierException>(() => new BpfVm(new BpfInstance(BpfObject.FromPrograms([prog]), mem), prog, helpers));
        Assert.Equal("program of this type cannot use helper bpf_seq_write#127 (section 'raw_tp/x', insn 0)", e.Message);
        Assert.Equal(Kernel.Errno.EINVAL, e.Errno);
    }

    [Fact]
    public void Program_without_the_tracing_table_is_refused_at_load()
    {
        var e = Assert.Throws<BpfVerifierException>(() => MakeVm(Load("perf_printk.bpf.o")));
        Assert.Equal("unknown func bpf_perf_event_output#25 (section 'raw_tp/sys_enter', insn 10, perf_printk.bpf.c:16)", e.Message);
    }
}
