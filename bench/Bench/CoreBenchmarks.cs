using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using BpfTraceSim.Bpf.Loader;

namespace BpfTraceSim.Bench;

/// <summary>
/// What CO-RE adds to an object's load (BpfObject.Load: ELF, BTF, relocations): tests/bpf/core.bpf.o
/// (27 CO-RE relocations resolved against a fresh simulated vmlinux BTF, built per load as exec
/// builds a world's) beside st_snprintf_btf.bpf.o (28 type-id relocations) and globals.bpf.o (none).
/// </summary>
[MemoryDiagnoser, MinColumn, MedianColumn]
public class CoreBenchmarks
{
    private byte[] _core = null!, _snprintfBtf = null!, _plain = null!;

    private static byte[] Obj(string name, [CallerFilePath] string here = "") =>
        File.ReadAllBytes(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "tests", "bpf", name)));

    [GlobalSetup]
    public void Setup()
    {
        _core = Obj("core.bpf.o");
        _snprintfBtf = Obj("st_snprintf_btf.bpf.o");
        _plain = Obj("globals.bpf.o");
    }

    [Benchmark(Baseline = true)]
    public BpfObject LoadWithoutCore() => BpfObject.Load(_plain, "globals.bpf.o");

    [Benchmark]
    public BpfObject LoadCoreObject() => BpfObject.Load(_core, "core.bpf.o");

    [Benchmark]
    public BpfObject LoadSnprintfBtfObject() => BpfObject.Load(_snprintfBtf, "st_snprintf_btf.bpf.o");
}
