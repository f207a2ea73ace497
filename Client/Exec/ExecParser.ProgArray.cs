using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Kernel;

namespace BpfTraceSim.Client.Exec;

/// <summary>
/// update_slot / delete_slot on a program object's BPF_MAP_TYPE_PROG_ARRAY: "program" names the
/// loaded program whose object holds the map (as run and set_global do), "prog" the program of that
/// object the slot gets (user space passes its fd). docs/exec.md, kernel-semantics.md §15.
/// </summary>
internal sealed partial class ExecParser
{
    // Each program's object, kept when it has a prog array: the steps' names are checked against it.
    private readonly Dictionary<string, BpfObject> _progArrayObjects = new(StringComparer.Ordinal);

    /// <summary>
    /// An object with prog arrays is instantiated once here, so that libbpf's load-time rules (the
    /// map's owner, the initial slots' updates) refuse a bad object now, naming why.
    /// </summary>
    private void CheckProgArrays(string program, BpfObject obj)
    {
        if (!obj.Maps.Any(m => m.Type == BpfMapType.ProgArray)) return;
        _ = new BpfInstance(obj, new SimMemory());
        _progArrayObjects[program] = obj;
    }

    private ExecStep ProgSlotStep(JNode s, string path, ExecStep step)
    {
        string program = ProgramRef(s, path);
        var mapNode = Need(s, "map", path);
        string map = Str(mapNode, path + ".map");
        if (!_progArrayObjects.TryGetValue(program, out var obj) || obj.FindMap(map) is var mi && (mi < 0 || obj.Maps[mi].Type != BpfMapType.ProgArray))
            throw Err(mapNode, path + ".map", $"no prog array named \"{map}\" in the object of program \"{program}\"");
        step = step with { Program = program, Map = map, Index = (long)U64(Need(s, "index", path), path + ".index") };
        if (step.Call == StepCall.DeleteSlot) return step;
        if (s["event"] is { } ev) throw Err(ev, path + ".event", "a prog array slot holds a program: give \"prog\", not \"event\"");
        var progNode = Need(s, "prog", path);
        string target = Str(progNode, path + ".prog");
        if (!obj.Programs.Any(p => p.Name == target))
            throw Err(progNode, path + ".prog", $"no program named \"{target}\" in {obj.Name} (programs: {string.Join(", ", obj.Programs.Select(p => p.Name))})");
        return step with { SlotProgram = target, Flags = Flags(s, path) };
    }
}
