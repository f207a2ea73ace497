using System.Buffers.Binary;
using BpfTraceSim.Bpf.Helpers;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Grains;
using BpfTraceSim.Grains.Exec;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Btf;
using BpfTraceSim.Kernel.Printk;
using BpfTraceSim.Kernel.Seq;

namespace BpfTraceSim.Client.Iter;

/// <summary>What reading a real iter/task program's seq_file gave: the reads, or why it could not run.</summary>
internal sealed record IterProgramOutcome(SeqReadResult? Read, string? LoadError, string? Fault);

/// <summary>
/// A clang-built SEC("iter/task") program read as `cat` reads its pinned link: bpf_seq_read
/// (BpfIterSession, the one seq_read model) calls task_seq_show for each task of the world in
/// order, and task_seq_stop's in_stop call once at the end, each running the program with
/// ctx = struct bpf_iter__task { meta, task } (task NULL in the stop call). meta is a
/// struct bpf_iter_meta in simulated kernel memory: seq (a struct seq_file the seq helpers accept),
/// session_id (1: atomic64_inc_return of the first session), seq_num (the object's 0-based position;
/// in the stop call that of the last object, 0 with none: bpf_seq_read only increments it when
/// next() yields an object). The program runs on CPU 0 as the reader's idle context.
/// </summary>
internal static class IterProgramRun
{
    private const string Host = "iter";

    public static IterProgramOutcome Run(WorldSpec world, int readSize, int seqSize)
    {
        var spec = world.Programs[0];
        var kallsyms = new Kallsyms();
        foreach (var (name, size) in world.Kallsyms) kallsyms.AddOrResize(name, size);
        var objects = new HostObjects();
        var loaded = objects.Get(Host, world.Cpus, spec, kallsyms, world.BtfTypesJson, () => SeqFileGrain.WorldBtf(world));
        var memory = objects.Memory(Host, world.Cpus);
        var printk = new PrintkWorld(memory, kallsyms, world.Seed, 1);
        var cpu = new CpuModel(0, printk: printk.Cpu(0)) { ProgramWorld = printk, VmlinuxBtfSource = () => SeqFileGrain.WorldBtf(world) };
        BpfVm vm;
        try { vm = new BpfVm(loaded.Instance, loaded.Program, TracingHelpers.Register(BpfHelperTable.CreateGeneric(), _ => cpu)); }
        catch (BpfVerifierException ex) { return new IterProgramOutcome(null, ex.Message, null); }

        var meta = new byte[IterCtxLayout.MetaSize];
        ulong seqAddr = memory.Map(AddressSpace.Kernel, new byte[32], writable: false);
        ulong metaAddr = memory.Map(AddressSpace.Kernel, meta, writable: false);
        BinaryPrimitives.WriteUInt64LittleEndian(meta.AsSpan((int)IterCtxLayout.Seq), seqAddr);
        BinaryPrimitives.WriteUInt64LittleEndian(meta.AsSpan((int)IterCtxLayout.SessionId), 1);
        var ctx = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(ctx.AsSpan((int)IterCtxLayout.Meta), metaAddr);
        var tasks = world.Tasks;
        string? fault = null;

        int Show(long index, SeqFile m)
        {
            if (fault is not null) return 1;
            ulong task = 0, seqNum = (ulong)Math.Max(tasks.Length - 1, 0);
            if (index >= 0)
            {
                var t = tasks[(int)index];
                task = SimTaskMemory.Current(memory, new SimTask(t.Pid, t.Tgid, t.Comm) { Uid = t.Uid, Gid = t.Gid }, t.Cpu);
                seqNum = (ulong)index;
            }
            BinaryPrimitives.WriteUInt64LittleEndian(meta.AsSpan((int)IterCtxLayout.SeqNum), seqNum);
            BinaryPrimitives.WriteUInt64LittleEndian(ctx.AsSpan((int)IterCtxLayout.Task), task);
            cpu.Seq = m;
            var result = vm.Run(ctx, new HelperContext(0, SimTask.Idle, ExecContext.Task, 0), world.Seed);
            cpu.Seq = null;
            if (result.Fault is { } f)
            {
                fault = $"insn {f.Insn}: {f.Message}";
                return 1;
            }
            return (int)result.Ret;
        }

        var session = new BpfIterSession(tasks.Length, Show, Show, seqSize);
        var read = session.ReadAll(readSize);
        return new IterProgramOutcome(read, null, fault);
    }
}
