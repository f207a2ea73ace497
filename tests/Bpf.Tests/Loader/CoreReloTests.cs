using BpfTraceSim.Bpf.Btf;
using CsCheck;
using BpfTraceSim.Bpf.Isa;
using BpfTraceSim.Bpf.Loader;
using VmlinuxBtf = BpfTraceSim.Kernel.Btf.VmlinuxBtf;
using KMember = BpfTraceSim.Kernel.Btf.BtfMember;
using static BpfTraceSim.Bpf.Tests.TestObjects;
using KBtf = BpfTraceSim.Kernel.Btf.Btf;

namespace BpfTraceSim.Bpf.Tests.Loader;

/// <summary>CO-RE relocations (tests/bpf/core.bpf.c, core_bad.bpf.c) against the simulated vmlinux BTF, values as libbpf patches them.</summary>
public class CoreReloTests
{
    private static ulong G(BpfTraceSim.Bpf.Vm.BpfVm vm, string name) => BitConverter.ToUInt64(vm.Instance.GetGlobal(name));

    [Fact]
    public void Every_relocation_kind_takes_the_kernels_value()
    {
        var obj = Load("core.bpf.o");
        var vm = MakeVm(obj, "raw_tp/sys_enter");
        var r = vm.Run([], Ctx);
        Assert.Null(r.Fault);
        Assert.True(VmlinuxBtf.Create().TryFind("struct list_head", out uint kernelList));
        int localList = obj.Btf!.Types.First(t => t.Kind == BtfKind.Struct && t.Name == "list_head").Id;
        var expected = new (string, ulong)[]
        {
            ("off_ptrace", 48), ("off_cpu", 20), ("sz_status", 4), ("off_flags", 44),
            ("exists_ptrace", 1), ("exists_missing", 0), ("exists_flags", 1),
            ("signed_val", 1), ("signed_name_off", 0),
            ("bf_off", 1), ("bf_sz", 1), ("bf_lshift", 56), ("bf_rshift", 60),
            ("type_exists_list", 1), ("type_exists_missing", 0), ("type_size_task", 80), ("type_matches_list", 1),
            ("type_matches_int", 0), ("type_exists_int", 1),
            ("type_id_kernel", kernelList), ("type_id_local", (ulong)localList),
            ("enum_exists", 1), ("enum_missing", 0), ("enum_prog_load", 5), ("enum_btf_load", 18),
            ("guarded_read", 7),
        };
        Assert.Equal(expected, expected.Select(e => (e.Item1, G(vm, e.Item1))).ToArray());
    }

    [Fact]
    public void Core_read_adds_the_kernels_offset()
    {
        var obj = Load("core.bpf.o");
        var p = obj.FindProgram("raw_tp/sys_exit");
        // r1 = 4 (the local offset of ptrace) becomes the kernel's 48
        Assert.Equal(new BpfInsn(Op.ALU64 | Op.K | Op.MOV, 1, 0, 0, 48), p.Insns[1]);
        Assert.Null(MakeVm(obj, "raw_tp/sys_exit").Run([], Ctx).Fault);
    }

    [Fact]
    public void A_world_btf_type_moves_the_offset()
    {
        // the world's kernel has its own struct sim_amb: the relocation takes its layout
        var k = VmlinuxBtf.Create();
        Assert.True(k.TryFind("int", out uint i32));
        k.Add(BpfTraceSim.Kernel.Btf.BtfType.Struct("sim_amb", 12, new KMember("a", i32, 0), new KMember("x", i32, 64)));
        var obj = BpfObject.Load(File.ReadAllBytes(Path_("core_bad.bpf.o")), "core_bad.bpf.o", k);
        var vm = MakeVm(obj, "raw_tp/sys_exit");
        Assert.Null(vm.Run([], Ctx).Fault);
        Assert.Equal(8UL, G(vm, "out"));
    }

    [Fact]
    public void Disagreeing_candidates_fail_the_load_with_libbpfs_message()
    {
        var k = VmlinuxBtf.Create();
        Assert.True(k.TryFind("int", out uint i32));
        k.Add(BpfTraceSim.Kernel.Btf.BtfType.Struct("sim_amb", 4, new KMember("x", i32, 0)));
        k.Add(BpfTraceSim.Kernel.Btf.BtfType.Struct("sim_amb___v2", 8, new KMember("y", i32, 0), new KMember("x", i32, 32)));
        var e = Assert.Throws<BpfVerifierException>(() => BpfObject.Load(File.ReadAllBytes(Path_("core_bad.bpf.o")), "core_bad.bpf.o", k));
        Assert.Equal(BpfTraceSim.Kernel.Errno.EINVAL, e.Errno);
        Assert.Equal(
            "libbpf: prog 'amb': relo #0: field offset ambiguity: 32 != 0\n" +
            "libbpf: prog 'amb': relo #0: failed to relocate: -EINVAL\n" +
            "libbpf: failed to perform CO-RE relocations: -EINVAL\n", e.Log);
        Assert.StartsWith("core_bad.bpf.o: libbpf: prog 'amb': relo #0: field offset ambiguity: 32 != 0 (section 'raw_tp/sys_exit', insn 0", e.Message);
    }

    [Fact]
    public void A_reached_poisoned_relocation_is_refused_with_libbpfs_fixed_up_log()
    {
        var obj = Load("core_bad.bpf.o");
        var p = obj.FindProgram("raw_tp/sys_enter");
        Assert.Equal(new BpfInsn(Op.JMP | Op.CALL, 0, 0, 0, 0xbad2310), p.Insns[1]);
        var e = Assert.Throws<BpfVerifierException>(() => MakeVm(obj, "raw_tp/sys_enter"));
        Assert.Equal(BpfTraceSim.Kernel.Errno.EINVAL, e.Errno);
        int bad = obj.Btf!.Types.First(t => t.Name == "task_struct___bad").Id;
        Assert.Equal($"failed to resolve CO-RE relocation <byte_sz> [{bad}] struct task_struct___bad.fake_field (0:1 @ offset 4)", e.KernelMessage);
        Assert.Contains("\n1: <invalid CO-RE relocation>\n", "\n" + e.Log);
        Assert.DoesNotContain("unknown#195896080", e.Log);
    }

    [Fact]
    public void Loads_take_the_kernels_offset_and_an_unsigned_fields_size()
    {
        var p = Load("core_bad.bpf.o").FindProgram("raw_tp/ldx");
        // status: local u64 at 0 -> the kernel's u32 at 16 (resized: both unsigned); cpu: 8 -> 20
        Assert.Equal(new BpfInsn(Op.LDX | Op.MEM | Op.W, 2, 1, 16, 0), p.Insns[0]);
        Assert.Equal(new BpfInsn(Op.LDX | Op.MEM | Op.W, 1, 1, 20, 0), p.Insns[1]);
    }

    [Fact]
    public void A_signed_load_that_would_change_size_is_poisoned()
    {
        var p = Load("core_bad.bpf.o").FindProgram("raw_tp/ldx_signed");
        Assert.Equal(new BpfInsn(Op.JMP | Op.CALL, 0, 0, 0, CoreRelocator.PoisonImm), p.Insns[0]);
    }

    [Fact]
    public void A_missing_enumerators_value_poisons_both_halves_of_the_ld_imm64()
    {
        var obj = Load("core_bad.bpf.o");
        var p = obj.FindProgram("raw_tp/enum_missing");
        Assert.Equal(new BpfInsn(Op.JMP | Op.CALL, 0, 0, 0, CoreRelocator.PoisonImm), p.Insns[0]);
        Assert.Equal(new BpfInsn(Op.JMP | Op.CALL, 0, 0, 0, CoreRelocator.PoisonImm), p.Insns[1]);
        var e = Assert.Throws<BpfVerifierException>(() => MakeVm(obj, "raw_tp/enum_missing"));
        int id = obj.Btf!.Types.First(t => t.Name == "bpf_cmd___bad").Id;
        Assert.Equal($"failed to resolve CO-RE relocation <enumval_value> [{id}] enum bpf_cmd___bad::BPF_NO_SUCH_CMD___bad = 7", e.KernelMessage);
    }

    [Fact]
    public void The_essential_name_drops_the_last_flavor_suffix_only()
    {
        // names of letters, digits and single underscores: a "___" separator only where built
        var part = Gen.String[Gen.Char["abcdefgz019"], 1, 8];
        Gen.Select(part, part, part).Sample((a, b, c) =>
        {
            Assert.Equal(a.Length, CoreBtf.EssentialNameLen(a));
            Assert.Equal(a.Length, CoreBtf.EssentialNameLen(a + "___" + b));
            Assert.Equal(a.Length + 3 + b.Length, CoreBtf.EssentialNameLen(a + "___" + b + "___" + c)); // the last one
            Assert.Equal(a.Length + 4 + b.Length, CoreBtf.EssentialNameLen(a + "____" + b));             // four underscores: no X___Y with X and Y not '_' 
        });
        Assert.Equal(7, CoreBtf.EssentialNameLen("rq__new"));      // two underscores: no flavor
        Assert.Equal(14, CoreBtf.EssentialNameLen("task_struct___")); // nothing after the underscores: no flavor
    }

    // .BTF.ext of core.bpf.o: the section whose BTF magic carries the 32-byte header (.BTF's is 24)
    private static int ExtStart(byte[] b)
    {
        for (int i = 0; i + 8 < b.Length; i++)
            if (b[i] == 0x9f && b[i + 1] == 0xeb && b[i + 2] == 1 && BitConverter.ToUInt32(b, i + 4) == 32) return i;
        throw new InvalidOperationException("no .BTF.ext");
    }

    [Theory]
    [InlineData(12, 99u, "unknown relocation kind 99")]
    [InlineData(0, 12u, "insn_off 12 is not a multiple of 8")]
    [InlineData(4, 100000u, "type_id 100000 names no type in .BTF")]
    public void Bad_core_relo_records_are_refused_naming_section_and_offset(int field, uint value, string detail)
    {
        var b = File.ReadAllBytes(Path_("core.bpf.o"));
        int ext = ExtStart(b);
        int sub = 32 + (int)BitConverter.ToUInt32(b, ext + 24); // core_relo subsection, from the start of .BTF.ext
        int rec = sub + 12;                                      // rec_size, sec_name_off, num_info, then the first record
        BitConverter.TryWriteBytes(b.AsSpan(ext + rec + field), value);
        var e = Assert.Throws<BpfLoadException>(() => BpfObject.Load(b, "core.bpf.o"));
        Assert.Equal($"core.bpf.o: section '.BTF.ext': core_relo record at offset {rec}: {detail}", e.Message);
    }

    [Fact]
    public void A_truncated_core_relo_subsection_is_refused()
    {
        var b = File.ReadAllBytes(Path_("core.bpf.o"));
        int ext = ExtStart(b);
        int sub = 32 + (int)BitConverter.ToUInt32(b, ext + 24);
        BitConverter.TryWriteBytes(b.AsSpan(ext + sub + 8), 1000u); // num_info far past the subsection
        var e = Assert.Throws<BpfLoadException>(() => BpfObject.Load(b, "core.bpf.o"));
        // the records past the real ones are refused by the first check they fail, or as truncated
        Assert.Matches(@"^core\.bpf\.o: section '\.BTF\.ext': (BTF\.ext )?core_relo record at offset \d+(:| truncated)", e.Message);
    }
}
