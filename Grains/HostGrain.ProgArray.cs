using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Grains.Exec;
using BpfTraceSim.Kernel.Printk;

namespace BpfTraceSim.Grains;

/// <summary>
/// update_slot / delete_slot on a program object's prog array: the host's one instance of the object
/// (HostObjects, which its CPUs run) is changed in place, so the next tail call on any CPU sees it.
/// </summary>
public sealed partial class HostGrain
{
    private LoadedProgram Loaded(string program)
    {
        foreach (var p in World.Programs)
        {
            if (p.Name != program) continue;
            var kallsyms = new Kallsyms(); // the same symbols a CPU of this host resolves __ksym externs with
            foreach (var (name, size) in World.Kallsyms) kallsyms.AddOrResize(name, size);
            return objects.Get(this.GetPrimaryKeyString(), World.Cpus, p, kallsyms);
        }
        throw new InvalidOperationException($"no program {program} (checked by the parser)");
    }

    /// <summary>bpf_map_update_elem(prog array, &amp;index, &amp;prog_fd, flags): BpfMap.UpdateProgSlot's errno.</summary>
    private StepResult UpdateProgSlot(ExecStep s)
    {
        var lp = Loaded(s.Program!);
        var target = lp.Object.FindProgram(null, s.SlotProgram);
        lock (lp)
            return StepResult.Of(s.Index is < 0 or > uint.MaxValue ? -Kernel.Errno.E2BIG : lp.Instance.Map(s.Map!).UpdateProgSlot((uint)s.Index, target, s.Flags));
    }

    /// <summary>bpf_map_delete_elem on a prog array: -E2BIG past max_entries, -ENOENT for an empty slot.</summary>
    private StepResult DeleteProgSlot(ExecStep s)
    {
        var lp = Loaded(s.Program!);
        lock (lp)
            return StepResult.Of(s.Index is < 0 or > uint.MaxValue ? -Kernel.Errno.E2BIG : lp.Instance.Map(s.Map!).DeleteProgSlot((uint)s.Index));
    }
}
