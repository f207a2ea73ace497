using BpfTraceSim.Bpf.Helpers;
using BpfTraceSim.Bpf.Isa;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Printk;
using static BpfTraceSim.Bpf.Tests.TestObjects;

namespace BpfTraceSim.Bpf.Tests.Loader;

/// <summary>Typed __ksym externs (tests/bpf/ksym_typed*.bpf.c): kernel VARs by BTF id, as libbpf and check_pseudo_btf_id resolve them.</summary>
public class TypedKsymTests
{
    private static BpfVm Vm(BpfObject obj, Kallsyms? syms) =>
        new(new BpfInstance(obj, new SimMemory()) { Kallsyms = syms }, obj.Programs[0], BpfHelperTable.CreateGeneric());

    [Fact]
    public void Per_cpu_variables_load_as_btf_ids_and_run_as_their_kallsyms_addresses()
    {
        var obj = Load("ksym_typed.bpf.o");
        var k = BpfTraceSim.Kernel.Btf.VmlinuxBtf.Create();
        Assert.True(k.TryFindVar("runqueues", out uint rq));
        Assert.True(k.TryFindVar("bpf_prog_active", out uint active));
        // two ld_imm64 BPF_PSEUDO_BTF_ID of the kernel VARs, second half 0 (vmlinux, no module fd)
        var lds = obj.Programs[0].Insns.Select((ins, i) => (ins, i)).Where(x => x.ins.IsLdImm64 && x.ins.Src == Op.PSEUDO_BTF_ID).ToArray();
        Assert.Equal(new[] { (int)rq, (int)active }.Order().ToArray(), lds.Select(x => x.ins.Imm).Order().ToArray());
        Assert.All(lds, x => Assert.Equal(0, obj.Programs[0].Insns[x.i + 1].Imm));
        var vm = Vm(obj, new Kallsyms());
        Assert.Null(vm.Run([], Ctx).Fault);
        Assert.Equal(0x32b40UL, BitConverter.ToUInt64(vm.Instance.GetGlobal("rq_addr")));
        Assert.Equal(0x1f5d0UL, BitConverter.ToUInt64(vm.Instance.GetGlobal("active_addr")));
        Assert.Equal(0UL, BitConverter.ToUInt64(vm.Instance.GetGlobal("weak_addr"))); // weak and not in the kernel BTF
    }

    [Fact]
    public void A_variable_the_kallsyms_lack_is_refused_by_the_verifier()
    {
        var e = Assert.Throws<BpfVerifierException>(() => Vm(Load("ksym_typed.bpf.o"), new Kallsyms(withDefaults: false)));
        Assert.Equal(Errno.ENOENT, e.Errno);
        // the first ld_imm64 of one (insn 2) names it
        Assert.Equal("ldimm64 failed to find the address for kernel symbol 'bpf_prog_active'.", e.KernelMessage);
        Assert.Equal(2, e.Insn);
    }

    [Fact]
    public void Per_cpu_memory_is_not_read_directly()
    {
        var e = Assert.Throws<BpfVerifierException>(() => Vm(Load("ksym_typed_bad.bpf.o"), new Kallsyms()));
        Assert.Equal(Errno.EACCES, e.Errno);
        Assert.Equal("R1 is ptr_rq access percpu memory: off=0", e.KernelMessage);
    }

    [Theory]
    [InlineData("ksym_typed_missing.bpf.o", Errno.ESRCH, "libbpf: extern (var ksym) 'not_in_kernel_btf': not found in kernel BTF")]
    [InlineData("ksym_typed_incompat.bpf.o", Errno.EINVAL, "libbpf: extern (var ksym) 'bpf_prog_active': incompatible types, expected [6] struct rq, but kernel has [1] int int")]
    public void Libbpf_refuses_a_variable_the_kernel_btf_lacks_or_types_otherwise(string file, int errno, string log)
    {
        var e = Assert.Throws<BpfVerifierException>(() => Load(file));
        Assert.Equal(errno, e.Errno);
        Assert.Equal(log + "\n", e.Log);
        Assert.Equal($"{file}: {log} (section '.ksyms')", e.Message);
    }
}
