using System.Text;
using BpfTraceSim.Bpf.Isa;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Kernel;
using static BpfTraceSim.Bpf.Isa.Asm;
using static BpfTraceSim.Bpf.Tests.TestObjects;
using O = BpfTraceSim.Bpf.Isa.Op;

namespace BpfTraceSim.Bpf.Tests.Helpers;

/// <summary>
/// The simulated task_struct behind bpf_get_current_task(_btf) (Kernel/Core/SimTask.cs SimTaskMemory):
/// pid, tgid and comm at the simulated vmlinux BTF's offsets, read by bpf_probe_read_kernel, CO-RE and
/// direct PTR_TO_BTF_ID loads; a PTR_TO_BTF_ID load of unmapped memory gives 0 (BPF_PROBE_MEM).
/// </summary>
public class TaskMemoryTests
{
    private static readonly SimTask Worker = new(4242, 4200, "worker-thread-name-long");

    private static HelperContext On(SimTask t, int cpu = 0) => new(cpu, t, ExecContext.Task, 5);

    /// <summary>A VM of a verified hand-assembled program (the verifier marks the BPF_PROBE_MEM loads).</summary>
    private static BpfVm Verified(params BpfInsn[] insns)
    {
        var prog = BpfProgram.FromInstructions("t", insns);
        return new BpfVm(new BpfInstance(BpfObject.FromPrograms([prog], null), new SimMemory()), prog, BpfTraceSim.Bpf.Helpers.BpfHelperTable.CreateGeneric());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Task_btf_c_object_reads_pid_tgid_and_comm_three_ways(bool compiled)
    {
        var vm = MakeVm(Load("task_btf.bpf.o"), "raw_tp/sys_enter");
        var r = compiled ? vm.RunCompiled([], On(Worker, cpu: 1)) : vm.Run([], On(Worker, cpu: 1));
        Assert.Null(r.Fault);
        // comm is cut to TASK_COMM_LEN - 1 bytes and NUL-terminated, as bpf_get_current_comm gives it
        var comm = Encoding.ASCII.GetBytes("worker-thread-n\0");
        foreach (var way in new[] { "read", "core", "direct" })
        {
            Assert.Equal(4242, BitConverter.ToInt32(vm.Instance.GetGlobal(way + "_pid")));
            Assert.Equal(4200, BitConverter.ToInt32(vm.Instance.GetGlobal(way + "_tgid")));
            Assert.Equal(comm, vm.Instance.GetGlobal(way + "_comm").ToArray());
        }
    }

    [Fact]
    public void The_task_memory_follows_the_current_task_and_its_cpu()
    {
        // r0 = task_btf->pid << 32 | task_btf->thread_info.cpu
        var vm = Asm(P(Call(HelperProtos.GetCurrentTaskBtf), Ldx(O.W, 1, 0, 52), Ldx(O.W, 0, 0, 20), Alu64Imm(O.LSH, 1, 32), Alu64Reg(O.OR, 0, 1), Exit()));
        Assert.Equal((100L << 32) | 3, vm.Run([], On(new SimTask(100, 100, "a"), cpu: 3)).Ret);
        Assert.Equal((100L << 32) | 0, vm.Run([], On(new SimTask(100, 100, "a"), cpu: 0)).Ret);
        Assert.Equal((7L << 32) | 0, vm.Run([], On(new SimTask(7, 7, "b"))).Ret);
        Assert.Equal(0, vm.Run([], On(SimTask.Idle, cpu: 2)).Ret >> 32);
    }

    [Fact]
    public void Probe_read_kernel_of_task_pid_returns_the_pid()
    {
        // bpf_probe_read_kernel(fp-8, 4, (void *)bpf_get_current_task() + 52); r0 = ret << 32 | *(u32 *)(fp-8)
        var vm = Asm(P(St(O.DW, 10, -8, 0), Call(HelperProtos.GetCurrentTask), Mov64Reg(3, 0), Alu64Imm(O.ADD, 3, 52),
            Mov64Reg(1, 10), Alu64Imm(O.ADD, 1, -8), Mov64(2, 4), Call(HelperProtos.ProbeReadKernel),
            Ldx(O.W, 1, 10, -8), Alu64Imm(O.LSH, 0, 32), Alu64Reg(O.OR, 0, 1), Exit()));
        Assert.Equal(4242, vm.Run([], On(Worker)).Ret);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_btf_pointer_load_of_unmapped_memory_reads_zero(bool compiled)
    {
        // task->stack is NULL in the simulated task: *(u32 *)(stack + 8) faults in the kernel's
        // exception table, which zeroes the destination (r0 starts as 7 to show it)
        var vm = Verified(P(Call(HelperProtos.GetCurrentTaskBtf), Ldx(O.DW, 1, 0, 32), Mov64(0, 7), Ldx(O.W, 0, 1, 8), Exit()));
        var r = compiled ? vm.RunCompiled([], On(Worker)) : vm.Run([], On(Worker));
        Assert.Null(r.Fault);
        Assert.Equal(0, r.Ret);
    }

    [Fact]
    public void Without_the_verifier_an_unmapped_load_still_faults()
    {
        var vm = Asm(P(Call(HelperProtos.GetCurrentTaskBtf), Ldx(O.DW, 1, 0, 32), Ldx(O.W, 0, 1, 8), Exit()));
        Assert.NotNull(vm.Run([], On(Worker)).Fault);
    }
}
