using BpfTraceSim.Bpf.Loader;
using static BpfTraceSim.Bpf.Tests.TestObjects;

namespace BpfTraceSim.Bpf.Tests.Loader;

public class LoaderTests
{
    [Fact]
    public void A_prog_array_with_an_8_byte_key_is_refused_as_bpf_map_create_refuses_it()
    {
        var e = Assert.Throws<BpfLoadException>(() => Load("tailcall_bad.bpf.o"));
        Assert.Equal("tailcall_bad.bpf.o: map 'bad_table': BPF_MAP_CREATE of a prog array refuses it with -EINVAL: key_size 8 (an array's key is 4 bytes) (section '.maps')", e.Message);
    }

    [Fact]
    public void Loop_object_has_one_program_in_its_section()
    {
        var o = Load("loop.bpf.o");
        var p = Assert.Single(o.Programs);
        Assert.Equal("loop_alu", p.Name);
        Assert.Equal("raw_tp/bench", p.Section);
        Assert.Equal(BpfProgramType.RawTracepoint, p.Type);
        Assert.Same(p, o.FindProgram(null));
    }

    [Fact]
    public void Describe_lists_programs_helpers_maps_globals()
    {
        var o = Load("perf_printk.bpf.o");
        string d = o.Describe();
        Assert.Contains("program emit section raw_tp/sys_enter", d);
        Assert.Contains("helper 6 bpf_trace_printk\n", d);
        Assert.Contains("helper 25 bpf_perf_event_output\n", d);
        Assert.Contains("map events type PerfEventArray key 4 value 4 max_entries 4\n", d);
        Assert.Contains("map .rodata type Array", d);
    }

    [Fact]
    public void Btf_maps_have_sizes_from_btf()
    {
        var o = Load("globals.bpf.o");
        var arr = o.Maps[o.FindMap("arr")];
        Assert.Equal((BpfMapType.Array, 4, 8, 4), (arr.Type, arr.KeySize, arr.ValueSize, arr.MaxEntries));
        var h = o.Maps[o.FindMap("hmap")];
        Assert.Equal((BpfMapType.Hash, 4, 8, 8), (h.Type, h.KeySize, h.ValueSize, h.MaxEntries));
        var pc = o.Maps[o.FindMap("pcpu")];
        Assert.Equal((BpfMapType.PercpuArray, 4, 8, 1), (pc.Type, pc.KeySize, pc.ValueSize, pc.MaxEntries));
    }

    [Fact]
    public void Global_data_sections_become_maps_and_globals_have_btf_names()
    {
        var o = Load("globals.bpf.o");
        Assert.True(o.Maps[o.FindMap(".rodata")].ReadOnly);
        Assert.False(o.Maps[o.FindMap(".data")].ReadOnly);
        var scale = o.FindGlobal("scale")!;
        Assert.Equal((".rodata", 0, 4), (scale.Section, scale.Offset, scale.Size));
        var tag = o.FindGlobal("tag")!;
        Assert.Equal((".data", 8, 8), (tag.Section, tag.Offset, tag.Size));
        var ptrs = o.FindGlobal("ptrs")!;
        Assert.Equal((".bss", 8, 16), (ptrs.Section, ptrs.Offset, ptrs.Size));
        Assert.Equal(new byte[] { 3, 0, 0, 0 }, o.Maps[o.FindMap(".rodata")].InitialValue);
    }

    [Fact]
    public void Several_programs_in_one_section_are_picked_by_function_name()
    {
        var o = Load("globals.bpf.o");
        Assert.Equal("pair_b", o.FindProgram("raw_tp/pair", "pair_b").Name);
        var e = Assert.Throws<BpfLoadException>(() => o.FindProgram("raw_tp/pair"));
        Assert.Equal("globals.bpf.o: section 'raw_tp/pair' holds 2 programs; name one with \"program\" (pair_a, pair_b)", e.Message);
    }

    [Fact]
    public void Text_section_program_is_honoured()
    {
        var o = Load("globals.bpf.o");
        var p = o.FindProgram(".text", "text_prog");
        Assert.Equal(".text", p.Section);
        // the static subprograms of .text are not programs
        Assert.DoesNotContain(o.Programs, q => q.Name is "mul_add" or "twice");
    }

    [Fact]
    public void Relocations_rewrite_map_and_global_references_and_calls()
    {
        var o = Load("globals.bpf.o");
        var p = o.FindProgram("raw_tp/globals");
        // insn 0: r2 = &counter (.data offset 0) -> map value by index
        Assert.Equal(Isa.Op.PSEUDO_MAP_IDX_VALUE, p.Insns[0].Src);
        Assert.Equal(o.FindMap(".data"), p.Insns[0].Imm);
        Assert.Equal(0, p.Insns[1].Imm);
        // insn 9: call twice (first function of .text, appended after the 61-insn body)
        Assert.Equal(Isa.Op.CALL_LOCAL, p.Insns[9].Src);
        Assert.Equal(61 - 10, p.Insns[9].Imm);
        // insn 15: r1 = &arr -> map by index
        Assert.Equal(Isa.Op.PSEUDO_MAP_IDX, p.Insns[15].Src);
        Assert.Equal(o.FindMap("arr"), p.Insns[15].Imm);
        // insn 54: r1 = &tag (.data + 8)
        Assert.Equal(o.FindMap(".data"), p.Insns[54].Imm);
        Assert.Equal(8, p.Insns[55].Imm);
    }

    [Fact]
    public void Line_info_maps_instructions_to_source_lines()
    {
        var o = Load("globals.bpf.o");
        var p = o.FindProgram("raw_tp/globals");
        Assert.Equal("globals.bpf.c:48", p.LineOf(0)!.Value.ToString());
        Assert.Contains("counter += 1", p.LineOf(0)!.Value.Text);
    }

    [Fact]
    public void Kfunc_object_is_refused_naming_section_instruction_and_line()
    {
        var e = Assert.Throws<BpfLoadException>(() => Load("unsupported.bpf.o"));
        Assert.Equal("unsupported.bpf.o: call to extern function 'bpf_rcu_read_lock' (a kfunc) is not supported (section 'raw_tp/kfunc', insn 0, unsupported.bpf.c:12)", e.Message);
        Assert.Equal("raw_tp/kfunc", e.Section);
        Assert.Equal(0, e.Insn);
    }

    [Theory]
    [InlineData(new byte[] { 1, 2, 3 }, "x.o: not an ELF file")]
    [InlineData(new byte[0], "x.o: not an ELF file")]
    public void Garbage_is_refused(byte[] bytes, string msg)
    {
        var e = Assert.Throws<BpfLoadException>(() => BpfObject.Load(bytes, "x.o"));
        Assert.Equal(msg, e.Message);
    }

    [Fact]
    public void Non_bpf_elf_is_refused()
    {
        var bytes = File.ReadAllBytes(Path_("loop.bpf.o"));
        bytes[18] = 62; // EM_X86_64
        var e = Assert.Throws<BpfLoadException>(() => BpfObject.Load(bytes, "x.o"));
        Assert.Equal("x.o: e_machine 62 is not EM_BPF (247)", e.Message);
    }
}
