using System.Collections.Concurrent;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Printk;

namespace BpfTraceSim.Grains.Exec;

/// <summary>A BPF program loaded on a simulated host: its object, the live maps and globals, its memory.</summary>
public sealed class LoadedProgram(BpfObject obj, BpfInstance instance, BpfProgram program)
{
    public BpfObject Object { get; } = obj;
    public BpfInstance Instance { get; } = instance;
    public BpfProgram Program { get; } = program;
}

/// <summary>
/// The BPF objects loaded on each simulated host, kept in the silo's memory and shared by that
/// host's CPU grains (which the host placement puts on one silo), as the kernel shares a program's
/// maps and globals between CPUs. One SimMemory per host holds every object's maps and globals.
/// </summary>
public sealed partial class HostObjects
{
    private sealed class Host(int cpus)
    {
        public readonly SimMemory Memory = new();
        public readonly int Cpus = cpus;
        public readonly Dictionary<string, LoadedProgram> Programs = new(StringComparer.Ordinal);
    }

    private readonly ConcurrentDictionary<string, Host> _hosts = new(StringComparer.Ordinal);

    /// <summary>The host's shared memory (program maps, globals, what set_global places).</summary>
    public SimMemory Memory(string host, int cpus) => _hosts.GetOrAdd(host, _ => new Host(cpus)).Memory;

    /// <summary>The program, loaded on first use; every CPU of the host gets the same instance.</summary>
    /// <param name="kallsyms">The host's kernel symbols (they resolve the object's __ksym externs).</param>
    /// <param name="btfTypes">The world's btf_types (null: none), what its kernel BTF is made of besides the simulated vmlinux.</param>
    /// <param name="kernelBtf">The world's kernel BTF the object's CO-RE relocations resolve against (null: the simulated vmlinux's).</param>
    public LoadedProgram Get(string host, int cpus, ProgramSpec spec, Kallsyms kallsyms, string? btfTypes = null, Func<Kernel.Btf.Btf>? kernelBtf = null)
    {
        var h = _hosts.GetOrAdd(host, _ => new Host(cpus));
        lock (h)
        {
            if (h.Programs.TryGetValue(spec.Name, out var p)) return p;
            // The parse the exec parser validated (one per process and kernel BTF), with this world's init_globals.
            var obj = BpfObjectStore.Shared.Open(spec.ObjectBytes, Path.GetFileName(spec.ObjectPath), btfTypes, kernelBtf).WithGlobals(Inits(spec));
            var program = obj.FindProgram(spec.Section, spec.Function);
            p = new LoadedProgram(obj, new BpfInstance(obj, h.Memory, h.Cpus) { Kallsyms = kallsyms }, program);
            h.Programs[spec.Name] = p;
            return p;
        }
    }

    // Between open and load (a skeleton's skel->rodata->x = ...): the bytes the maps start with, which
    // the verifier reads (a .rodata format string) and the instance copies.
    private static KeyValuePair<string, byte[]>[] Inits(ProgramSpec spec)
    {
        var inits = new KeyValuePair<string, byte[]>[spec.InitGlobals.Length];
        for (int i = 0; i < inits.Length; i++) inits[i] = new(spec.InitGlobals[i].Name, spec.InitGlobals[i].Bytes);
        return inits;
    }

    public void Forget(string host)
    {
        _hosts.TryRemove(host, out _);
        ForgetRingbufs(host);
    }
}
