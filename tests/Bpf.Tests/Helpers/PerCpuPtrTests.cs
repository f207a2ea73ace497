using BpfTraceSim.Bpf.Helpers;
using BpfTraceSim.Bpf.Isa;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Printk;
using static BpfTraceSim.Bpf.Isa.Asm;
using static BpfTraceSim.Bpf.Tests.TestObjects;
using O = BpfTraceSim.Bpf.Isa.Op;

namespace BpfTraceSim.Bpf.Tests.Helpers;

/// <summary>
/// bpf_per_cpu_ptr (153) / bpf_this_cpu_ptr (154) over the simulated vmlinux's per-CPU VARs
/// (tests/bpf/percpu_ptr.bpf.c): CPU n's copy at __per_cpu_offset[n] + the variable's offset
/// (SimPerCpu), NULL for a CPU at or past nr_cpu_ids, and the verifier's types for each.
/// </summary>
public class PerCpuPtrTests
{
    private const ulong Runqueues = 0x32b40;

    private static BpfVm Vm(BpfObject obj, int cpus) =>
        new(new BpfInstance(obj, new SimMemory(), cpus) { Kallsyms = new Kallsyms() }, obj.Programs[0], BpfHelperTable.CreateGeneric());

    private static long G(BpfVm vm, string name) => vm.Instance.GetGlobal(name).Length == 8
        ? BitConverter.ToInt64(vm.Instance.GetGlobal(name)) : BitConverter.ToInt32(vm.Instance.GetGlobal(name));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Each_cpu_has_its_own_runqueue_and_a_cpu_past_nr_cpu_ids_is_null(bool compiled)
    {
        var vm = Vm(Load("percpu_ptr.bpf.o"), cpus: 4);
        var hc = new HelperContext(2, new SimTask(100, 99, "app"), ExecContext.Task, 5);
        var r = compiled ? vm.RunCompiled([], hc) : vm.Run([], hc);
        Assert.Null(r.Fault);
        Assert.Equal(0xffff_88a0_0040_0000UL + Runqueues, (ulong)G(vm, "this_rq")); // __per_cpu_offset[2] = base + 2 * 2 MiB
        Assert.Equal(2, G(vm, "this_rq_cpu"));
        Assert.Equal(0xffff_88a0_0020_0000UL + Runqueues, (ulong)G(vm, "rq1"));
        Assert.Equal(1, G(vm, "rq1_cpu"));
        Assert.Equal(1, G(vm, "past_nr_cpus")); // cpu 4 of 4: NULL
        Assert.Equal(0, G(vm, "active"));
    }

    [Fact]
    public void On_one_cpu_cpu_1_is_already_past_nr_cpu_ids()
    {
        var vm = Vm(Load("percpu_ptr.bpf.o"), cpus: 1);
        Assert.Null(vm.Run([], Ctx).Fault);
        Assert.Equal(0, G(vm, "rq1"));
        Assert.Equal(-1, G(vm, "rq1_cpu"));
        Assert.Equal(0, G(vm, "this_rq_cpu"));
    }

    // The object's instructions with some replaced (a fresh parse each time): the verifier's refusals on real typed __ksyms.
    private static BpfVerifierException Refuse(Action<BpfInsn[]> edit)
    {
        var obj = Load("percpu_ptr.bpf.o");
        var p = obj.Programs[0];
        edit(p.Insns);
        return Assert.Throws<BpfVerifierException>(() => BpfTraceSim.Bpf.Verifier.BpfVerifier.Verify(p, obj.Maps));
    }

    [Fact]
    public void Per_cpu_ptr_must_be_null_checked()
    {
        // drop "if r7 == 0 goto" (insn 24): r7 is ptr_or_null_
        var e = Refuse(i => i[24] = Mov64Reg(7, 7));
        Assert.Equal((Errno.EACCES, "R7 invalid mem access 'ptr_or_null_'"), (e.Errno, e.KernelMessage));
    }

    [Fact]
    public void A_non_struct_variable_is_read_only_memory_of_its_size()
    {
        // *(u32 *)(r6 + 0) becomes a store, then a read past bpf_prog_active's 4 bytes
        var store = Refuse(i => i[38] = St(O.W, 6, 0, 1));
        Assert.Equal((Errno.EACCES, "R6 cannot write into rdonly_mem"), (store.Errno, store.KernelMessage));
        var past = Refuse(i => i[38] = Ldx(O.W, 1, 6, 4));
        Assert.Equal((Errno.EACCES, "R6 min value is outside of the allowed memory range"), (past.Errno, past.KernelMessage));
    }

    [Fact]
    public void The_argument_must_be_a_per_cpu_variable()
    {
        // r1 = fp instead of &runqueues for the first bpf_this_cpu_ptr
        var e = Refuse(i => { i[0] = Mov64Reg(1, 10); i[1] = Mov64Reg(1, 1); });
        Assert.Equal((Errno.EACCES, "R1 type=fp expected=percpu_ptr_"), (e.Errno, e.KernelMessage));
    }
}
