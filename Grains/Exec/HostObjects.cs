using System.Collections.Concurrent;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Kernel;

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
    public LoadedProgram Get(string host, int cpus, ProgramSpec spec)
    {
        var h = _hosts.GetOrAdd(host, _ => new Host(cpus));
        lock (h)
        {
            if (h.Programs.TryGetValue(spec.Name, out var p)) return p;
            var obj = BpfObject.Load(spec.ObjectBytes, Path.GetFileName(spec.ObjectPath));
            var program = obj.FindProgram(spec.Section, spec.Function);
            p = new LoadedProgram(obj, new BpfInstance(obj, h.Memory, h.Cpus), program);
            h.Programs[spec.Name] = p;
            return p;
        }
    }

    public void Forget(string host)
    {
        _hosts.TryRemove(host, out _);
        ForgetRingbufs(host);
    }
}
