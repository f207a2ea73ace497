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
    /// <param name="kernelBtf">The world's kernel BTF the object's CO-RE relocations resolve against (null: the simulated vmlinux's).</param>
    public LoadedProgram Get(string host, int cpus, ProgramSpec spec, Kallsyms kallsyms, Func<Kernel.Btf.Btf>? kernelBtf = null)
    {
        var h = _hosts.GetOrAdd(host, _ => new Host(cpus));
        lock (h)
        {
            if (h.Programs.TryGetValue(spec.Name, out var p)) return p;
            var obj = kernelBtf is null ? BpfObject.Load(spec.ObjectBytes, Path.GetFileName(spec.ObjectPath))
                : BpfObject.Load(spec.ObjectBytes, Path.GetFileName(spec.ObjectPath), kernelBtf());
            InitGlobals(obj, spec);
            var program = obj.FindProgram(spec.Section, spec.Function);
            p = new LoadedProgram(obj, new BpfInstance(obj, h.Memory, h.Cpus) { Kallsyms = kallsyms }, program);
            h.Programs[spec.Name] = p;
            return p;
        }
    }

    // Between open and load (a skeleton's skel->rodata->x = ...): the bytes the maps start with, which
    // the verifier reads (a .rodata format string) and the instance copies. This load's own object.
    private static void InitGlobals(BpfObject obj, ProgramSpec spec)
    {
        foreach (var init in spec.InitGlobals)
        {
            var g = obj.FindGlobal(init.Name) ?? throw new InvalidOperationException($"{obj.Name}: no global '{init.Name}' (checked by the parser)");
            var initial = obj.Maps[g.MapIndex].InitialValue ?? throw new InvalidOperationException($"{obj.Name}: '{init.Name}' is not in a data section");
            init.Bytes.CopyTo(initial.AsSpan(g.Offset, Math.Min(init.Bytes.Length, g.Size)));
        }
    }

    public void Forget(string host)
    {
        _hosts.TryRemove(host, out _);
        ForgetRingbufs(host);
    }
}
