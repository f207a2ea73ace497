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
        var maps = _maps;
        for (int i = 0; i < maps.Length; i++) if (maps[i].Handle == addr) return maps[i];
        return null;
    }

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
