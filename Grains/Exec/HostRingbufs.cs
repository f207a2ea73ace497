using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Ringbuf;

namespace BpfTraceSim.Grains.Exec;

/// <summary>
/// The ring buffer maps of one exec host. A ring is one per map and shared by all CPUs, so it is not
/// a CPU grain's state: it lives beside the host's BPF objects (in the silo that holds all of the
/// host's grains) and every CPU's <see cref="CpuModel"/> holds the same ring objects, on which its
/// helpers act. The host grain's consume_ringbuf reads them as user space would. Rings are placed
/// in the vmalloc area in map order, each after the previous one and a guard page, so addresses
/// are the same in every run.
/// </summary>
public sealed class HostRingbufs
{
    private readonly Dictionary<string, BpfRingbuf> _byName = new(StringComparer.Ordinal);
    private readonly Dictionary<int, ulong> _reserved = new(); // ringbuf_reserve step index -> what it returned

    public HostRingbufs(WorldSpec world, SimMemory memory)
    {
        var all = new List<BpfRingbuf>();
        ulong address = BpfRingbuf.VmallocBase;
        foreach (var m in world.Maps)
        {
            if (m.Type != BpfRingbuf.MapTypeName) continue;
            var rb = new BpfRingbuf((uint)m.MaxEntries, memory, address);
            address = rb.DataAddress + 2UL * rb.Size + BpfFlags.PAGE_SIZE;
            _byName[m.Name] = rb;
            all.Add(rb);
        }
        All = [.. all];
    }

    /// <summary>Every ring, in map order (the CPU models' <see cref="CpuModel.Ringbufs"/>).</summary>
    public BpfRingbuf[] All { get; }

    public BpfRingbuf this[string name] => _byName[name];

    public bool TryGet(string name, out BpfRingbuf rb) => _byName.TryGetValue(name, out rb!);

    /// <summary>Remembers what a ringbuf_reserve step returned, for the steps that name it.</summary>
    public void Reserved(int step, ulong sample)
    {
        lock (_reserved) _reserved[step] = sample;
    }

    /// <summary>What ringbuf_reserve step <paramref name="step"/> returned (0 = NULL, or it has not run).</summary>
    public ulong SampleOf(int step)
    {
        lock (_reserved) return _reserved.TryGetValue(step, out var s) ? s : 0;
    }

    /// <summary>Whether a world has any ringbuf (a world without one never creates this).</summary>
    public static bool Any(WorldSpec world)
    {
        foreach (var m in world.Maps)
            if (m.Type == BpfRingbuf.MapTypeName) return true;
        return false;
    }
}

public sealed partial class HostObjects
{
    private readonly Dictionary<string, HostRingbufs> _ringbufs = new(StringComparer.Ordinal);

    /// <summary>The host's rings, created on first use (its CPU grains boot at once: under a lock, once).</summary>
    public HostRingbufs Ringbufs(string host, WorldSpec world)
    {
        lock (_ringbufs)
        {
            if (!_ringbufs.TryGetValue(host, out var r))
                _ringbufs[host] = r = new HostRingbufs(world, Memory(host, world.Cpus));
            return r;
        }
    }

    private void ForgetRingbufs(string host)
    {
        lock (_ringbufs) _ringbufs.Remove(host);
    }
}
