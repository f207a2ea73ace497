using System.Buffers.Binary;
using System.Text;
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
/// The current-task and attach-point helpers (kernel/bpf/helpers.c, kernel/trace/bpf_trace.c):
/// uid_gid, task / task_btf, numa_node_id, ns_current_pid_tgid, strncmp, send_signal, get_func_ip,
/// get_attach_cookie, each with the kernel's result bytes and errno.
/// </summary>
public class TaskHelperTests
{
    private const long EINVAL = -Errno.EINVAL, EPERM = -Errno.EPERM, EBUSY = -Errno.EBUSY;
    private static readonly SimTask App = new(100, 99, "app") { Uid = 1000, Gid = 1001 };
    private static HelperContext On(SimTask t, int cpu = 0, int preempt = 2, ExecContext ctx = ExecContext.Task) =>
        new(cpu, t, ctx, 5) { PreemptDepth = preempt };

    private static long Call0(int id, in HelperContext hc, bool compiled = false)
    {
        var vm = Asm(Call(id), Exit());
        var r = compiled ? vm.RunCompiled([], hc) : vm.Run([], hc);
        Assert.Null(r.Fault);
        return r.Ret;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Uid_gid_is_gid_above_uid(bool compiled) =>
        Assert.Equal((1001L << 32) | 1000, Call0(HelperProtos.GetCurrentUidGid, On(App), compiled));

    [Fact]
    public void Uid_gid_of_a_task_without_credentials_is_root() =>
        Assert.Equal(0, Call0(HelperProtos.GetCurrentUidGid, On(new SimTask(7, 7, "x"))));

    [Fact]
    public void Current_task_address_is_stable_per_task_and_each_cpu_has_its_own_idle_task()
    {
        long a = Call0(HelperProtos.GetCurrentTask, On(App));
        Assert.Equal(a, Call0(HelperProtos.GetCurrentTask, On(App, cpu: 3)));
        Assert.Equal(a, Call0(HelperProtos.GetCurrentTaskBtf, On(App)));
        Assert.Equal(unchecked((long)0xffff_8890_0019_0000UL), a); // 100 * 0x4000 above the task area
        Assert.NotEqual(a, Call0(HelperProtos.GetCurrentTask, On(App with { Pid = 101 })));
        Assert.NotEqual(Call0(HelperProtos.GetCurrentTask, On(SimTask.Idle, cpu: 0)), Call0(HelperProtos.GetCurrentTask, On(SimTask.Idle, cpu: 1)));
    }

    [Fact]
    public void Numa_node_is_zero() => Assert.Equal(0, Call0(HelperProtos.GetNumaNodeId, On(App)));

    [Fact]
    public void Attach_cookie_is_zero_without_one() =>
        Assert.Equal(0, Call0(HelperProtos.GetAttachCookie, On(App)));

    /// <summary>fp-16..fp-8 = 0xff.., then bpf_get_ns_current_pid_tgid(dev, ino, fp-16, size); returns r0; the bytes stay on the stack.</summary>
    private static (long Ret, byte[] Buf) NsPidTgid(ulong dev, ulong ino, int size, bool compiled = false)
    {
        var vm = Asm(P(St(O.DW, 10, -16, -1), LdImm64(1, dev), LdImm64(2, ino), Mov64Reg(3, 10), Alu64Imm(O.ADD, 3, -16), Mov64(4, size),
            Call(HelperProtos.GetNsCurrentPidTgid), Exit()));
        var r = compiled ? vm.RunCompiled([], On(App)) : vm.Run([], On(App));
        Assert.Null(r.Fault);
        Assert.True(vm.TryGetSpan(vm.FramePointer - 16, 8, false, out var buf));
        return (r.Ret, buf.ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Ns_pid_tgid_in_the_initial_namespace(bool compiled)
    {
        var (ret, buf) = NsPidTgid(SimPidNs.Dev, SimPidNs.Ino, 8, compiled);
        Assert.Equal(0, ret);
        Assert.Equal(100u, BinaryPrimitives.ReadUInt32LittleEndian(buf));
        Assert.Equal(99u, BinaryPrimitives.ReadUInt32LittleEndian(buf.AsSpan(4)));
    }

    [Fact]
    public void Ns_pid_tgid_wrong_size_is_einval_and_zeroes_only_size_bytes()
    {
        var (ret, buf) = NsPidTgid(SimPidNs.Dev, SimPidNs.Ino, 4);
        Assert.Equal(EINVAL, ret);
        Assert.Equal("00000000ffffffff", Convert.ToHexStringLower(buf));
    }

    [Theory]
    [InlineData(SimPidNs.Dev | (1UL << 32), SimPidNs.Ino)] // does not fit dev_t
    [InlineData(SimPidNs.Dev + 1, SimPidNs.Ino)]           // another device
    [InlineData(SimPidNs.Dev, SimPidNs.Ino - 1)]           // another namespace: -EINVAL, not -ENOENT
    public void Ns_pid_tgid_of_another_namespace_is_einval_with_the_struct_zeroed(ulong dev, ulong ino)
    {
        var (ret, buf) = NsPidTgid(dev, ino, 8);
        Assert.Equal(EINVAL, ret);
        Assert.Equal("0000000000000000", Convert.ToHexStringLower(buf));
    }

    private static readonly BpfMapSpec[] StrMaps =
    [
        new(".rodata", BpfMapType.Array, 4, 4, 1, 0) { InitialValue = "abc\0"u8.ToArray(), ReadOnly = true },
    ];

    /// <summary>bpf_strncmp(s1 = the bytes at fp-8, size, s2 = "abc" in .rodata).</summary>
    private static long Strncmp(byte[] s1, int size)
    {
        var b = new byte[8];
        s1.CopyTo(b, 0);
        var vm = AsmWith(StrMaps, null, P(LdImm64(1, BinaryPrimitives.ReadUInt64LittleEndian(b)), Stx(O.DW, 10, 1, -8), Mov64Reg(1, 10), Alu64Imm(O.ADD, 1, -8),
            Mov64(2, size), LdImm64(3, 0, O.PSEUDO_MAP_IDX_VALUE), Call(HelperProtos.Strncmp), Exit()));
        var r = vm.Run([], On(App));
        Assert.Null(r.Fault);
        return r.Ret;
    }

    [Theory]
    [InlineData("abc", 3, 0)]
    [InlineData("abc", 8, 0)]     // both end at their NUL
    [InlineData("abd", 3, 1)]
    [InlineData("abb", 3, -1)]
    [InlineData("abX", 2, 0)]     // only s1_sz bytes compared
    [InlineData("ab", 8, -1)]     // s1's NUL is below s2's 'c'
    [InlineData("abcd", 8, 1)]    // 'd' above s2's NUL
    [InlineData("abcd", 3, 0)]    // s1 need not end within s1_sz
    public void Strncmp_is_lib_strncmp_with_s1_sz(string s1, int size, long expected) =>
        Assert.Equal(expected, Strncmp(Encoding.ASCII.GetBytes(s1), size));

    [Fact]
    public void Strncmp_compares_unsigned_bytes() => Assert.Equal(1, Strncmp([0xff], 1));

    private static (BpfRunResult Result, BpfSignal[] Signals) Signals(in HelperContext hc, params int[] sigs)
    {
        var insns = new List<BpfInsn>();
        foreach (int s in sigs) { insns.Add(Mov64(1, s)); insns.Add(Call(HelperProtos.SendSignal)); }
        insns.Add(Exit());
        var vm = Asm([.. insns]);
        var r = vm.Run([], hc);
        Assert.Null(r.Fault);
        return (r, vm.Signals.ToArray());
    }

    [Fact]
    public void Send_signal_from_a_program_context_queues_one_irq_work_per_run()
    {
        var (r, sent) = Signals(On(App), 9, 10);
        Assert.Equal(new long[] { 0, EBUSY }, r.Helpers.Select(h => h.Ret).ToArray());
        Assert.Equal(new[] { new BpfSignal(99, 100, 9) }, sent);
        // the next run starts with the work done
        Assert.Equal(0, Signals(On(App), 15).Result.Helpers[0].Ret);
    }

    [Fact]
    public void Send_signal_from_a_preemptible_task_is_sent_at_once_every_time()
    {
        var (r, sent) = Signals(On(App, preempt: 0), 9, 10);
        Assert.Equal(new long[] { 0, 0 }, r.Helpers.Select(h => h.Ret).ToArray());
        Assert.Equal(new[] { new BpfSignal(99, 100, 9), new BpfSignal(99, 100, 10) }, sent);
    }

    [Theory]
    [InlineData(0, 0, 9, EPERM)]     // the idle task is a kernel thread
    [InlineData(1, 1, 9, EPERM)]     // init
    [InlineData(100, 99, 65, EINVAL)] // past _NSIG
    public void Send_signal_refusals(int pid, int tgid, int sig, long errno)
    {
        var (r, sent) = Signals(On(new SimTask(pid, tgid, "t")), sig);
        Assert.Equal(errno, r.Helpers[0].Ret);
        Assert.Empty(sent);
    }

    [Theory]
    [InlineData("kprobe/vfs_read", true)]
    [InlineData("kretprobe/vfs_read", true)]
    [InlineData("kprobe/vfs_read+0", true)]
    [InlineData("kprobe/vfs_read+0x10", false)] // not on the function's entry
    [InlineData("fentry/vfs_read", true)]
    [InlineData("fexit/vfs_read", true)]
    [InlineData("kprobe/no_such_function", false)]
    [InlineData("uprobe//bin/sh:main", false)]
    public void Func_ip_is_the_attach_functions_address(string section, bool found)
    {
        var ks = new Kallsyms();
        Assert.Equal(found ? ks.AddressOf("vfs_read") : 0UL, TracingHelpers.FuncIp(section, ks));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Func_ip_from_a_kprobe_program(bool compiled)
    {
        var mem = new SimMemory();
        var world = new PrintkWorld(mem, new Kallsyms(), 1);
        var model = new CpuModel(0, printk: world.Cpu(0)) { ProgramWorld = world };
        var helpers = TracingHelpers.Register(BpfHelperTable.CreateGeneric(), _ => model);
        var prog = BpfProgram.FromInstructions("t", [Call(HelperProtos.GetFuncIp), Exit()], "kprobe/vfs_write");
        var vm = new BpfVm(new BpfInstance(BpfObject.FromPrograms([prog]), mem), prog, helpers);
        var r = compiled ? vm.RunCompiled(new byte[168], On(App)) : vm.Run(new byte[168], On(App));
        Assert.Null(r.Fault);
        Assert.Equal((long)world.Kallsyms.AddressOf("vfs_write"), r.Ret);
    }
}
