using BpfTraceSim.Bpf.Isa;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Printk;

namespace BpfTraceSim.Bpf.Vm;

/// <summary>
/// A loaded object's live state in one simulated memory: its maps (global data included) and
/// globals by BTF name. Every program of the object shares it, as in the kernel.
/// </summary>
public sealed class BpfInstance
{
    public BpfInstance(BpfObject obj, SimMemory memory, int cpus = 1)
    {
        Object = obj;
        Memory = memory;
        Cpus = Math.Max(1, cpus);
        var maps = new BpfMap[obj.Maps.Count];
        for (int i = 0; i < maps.Length; i++) maps[i] = new BpfMap(obj.Maps[i], i, memory, Cpus);
        Maps = _maps = maps;
        foreach (var m in maps)
            if (m.Spec.Type == BpfMapType.ProgArray) InitProgArray(obj, m);
    }

    /// <summary>
    /// A prog array as libbpf leaves it after bpf_object__load: every program that uses the map was
    /// loaded in object order, the first becoming its owner and a later incompatible one failing
    /// BPF_PROG_LOAD with -EINVAL (bpf_check_tail_call); then init_prog_array_slots put each
    /// declared slot's program in with bpf_map_update_elem, whose error fails the load.
    /// </summary>
    private static void InitProgArray(BpfObject obj, BpfMap m)
    {
        m.BindPrograms(obj.Programs);
        foreach (var p in obj.Programs)
            if (UsesMap(p, m.Index) && !m.Compatible(p))
                throw new BpfLoadException($"{obj.Name}: program '{p.Name}': BPF_PROG_LOAD refuses it with -EINVAL: its prog array '{m.Name}' belongs to {Describe(m.Owner!.Value)} programs (bpf_check_tail_call)");
        foreach (var slot in m.Spec.ProgSlots)
        {
            var target = obj.Programs.FirstOrDefault(p => p.Name == slot.Program)
                ?? throw new BpfLoadException($"{obj.Name}: map '{m.Name}': slot [{slot.Index}] names '{slot.Program}', which is not a program of the object");
            long err = m.UpdateProgSlot((uint)slot.Index, target, 0);
            if (err != 0)
                throw new BpfLoadException($"{obj.Name}: map '{m.Name}': failed to initialize slot [{slot.Index}] to prog '{slot.Program}': -{Errno.Name((int)-err)}"
                    + (err == -Errno.EINVAL ? $" (the map's programs are {Describe(m.Owner!.Value)})" : ""));
        }
    }

    private static string Describe(TailCallOwner o) =>
        o.Type + (o.ExpectedAttachType.Length > 0 ? $" {o.ExpectedAttachType}" : "") + (o.Sleepable ? " sleepable" : "") + (o.AttachTarget.Length > 0 ? $" on {o.AttachTarget}" : "");

    /// <summary>Whether the program loads the map (ld_imm64 BPF_PSEUDO_MAP_IDX, as the loader rewrote its references).</summary>
    private static bool UsesMap(BpfProgram p, int mapIndex)
    {
        var insns = p.Insns;
        for (int i = 0; i < insns.Length; i++)
        {
            if (!insns[i].IsLdImm64) continue;
            if (insns[i].Src == Op.PSEUDO_MAP_IDX && insns[i].Imm == mapIndex) return true;
            i++;
        }
        return false;
    }

    public BpfObject Object { get; }
    public SimMemory Memory { get; }
    /// <summary>The simulated host's kernel symbols, which resolve the object's __ksym externs (none: every one unresolved).</summary>
    public Kallsyms? Kallsyms { get; init; }
    public int Cpus { get; }
    public IReadOnlyList<BpfMap> Maps { get; }
    // the same maps as an array: MapByHandle runs on every map helper call
    private readonly BpfMap[] _maps;

    public BpfMap Map(string name) =>
        Maps.FirstOrDefault(m => m.Name == name) ?? throw new KeyNotFoundException($"{Object.Name}: no map '{name}'");

    /// <summary>The map whose handle (the pointer ld_imm64 loads) is addr, or null.</summary>
    public BpfMap? MapByHandle(ulong addr)
    {
        // a program's helper calls mostly name the same map again: one entry remembered
        if (_lastMap is { } last && last.Handle == addr) return last;
        return MapByHandleScan(addr);
    }

    private BpfMap? MapByHandleScan(ulong addr)
    {
        var maps = _maps;
        for (int i = 0; i < maps.Length; i++)
            if (maps[i].Handle == addr) return _lastMap = maps[i];
        return null;
    }

    private BpfMap? _lastMap;

    /// <summary>The global variable by BTF name; KeyNotFoundException naming the object's globals.</summary>
    public BpfGlobal Global(string name) =>
        Object.FindGlobal(name) ?? throw new KeyNotFoundException($"{Object.Name}: no global variable '{name}' (globals: {string.Join(", ", Object.Globals.Select(g => g.Name))})");

    /// <summary>The variable's bytes, live (writes go to the program's memory).</summary>
    public Span<byte> GlobalBytes(string name)
    {
        var g = Global(name);
        return Maps[g.MapIndex].Storage.Slice(g.Offset, g.Size);
    }

    public byte[] GetGlobal(string name) => GlobalBytes(name).ToArray();

    /// <summary>set_global: writes bytes at offset inside the variable; the rest keeps its contents.</summary>
    public void SetGlobal(string name, ReadOnlySpan<byte> value, int offset = 0)
    {
        var span = GlobalBytes(name);
        if (offset < 0 || offset + value.Length > span.Length)
            throw new ArgumentOutOfRangeException(nameof(value), $"{value.Length} bytes at offset {offset} do not fit in '{name}' ({span.Length} bytes)");
        value.CopyTo(span[offset..]);
    }

    /// <summary>Every map's state in map order (global data included: .data/.bss/.rodata are maps).</summary>
    public BpfMapState[] ExportState()
    {
        var states = new BpfMapState[Maps.Count];
        for (int i = 0; i < states.Length; i++) states[i] = Maps[i].ExportState();
        return states;
    }

    /// <summary>Sets the state taken by <see cref="ExportState"/> from an instance of the same object.</summary>
    public void ImportState(BpfMapState[] states)
    {
        if (states.Length != Maps.Count)
            throw new ArgumentException($"{Object.Name}: {states.Length} map states for {Maps.Count} maps", nameof(states));
        for (int i = 0; i < states.Length; i++) Maps[i].ImportState(states[i]);
    }

    /// <summary>The variable's address in simulated kernel memory (for addr_of).</summary>
    public ulong AddressOfGlobal(string name)
    {
        var g = Global(name);
        return Maps[g.MapIndex].Address + (ulong)g.Offset;
    }
}
