using System.Buffers.Binary;
using BpfTraceSim.Bpf.Vm;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Btf;
using BpfTraceSim.Kernel.Seq;

namespace BpfTraceSim.Grains.Exec;

/// <summary>
/// read_iter: `cat` on a pinned SEC("iter/task") link, read on this CPU. bpf_seq_read (BpfIterSession,
/// the one seq_read model) calls task_seq_show for each task of the world in order and
/// task_seq_stop's in_stop call once at the end; each runs the program with ctx = struct
/// bpf_iter__task { meta, task } (task NULL in the stop call). meta is a struct bpf_iter_meta in the
/// host's simulated kernel memory: seq (a struct seq_file the seq helpers accept), session_id (1:
/// atomic64_inc_return of the first session), seq_num (the object's 0-based position; in the stop
/// call that of the last object, 0 with none: bpf_seq_read only increments it when next() yields an
/// object). The reader's context is the step's (pid 0: this CPU's idle task).
/// </summary>
public sealed partial class CpuKernel
{
    private StepResult ReadIter(in HelperContext ctx, ExecStep step)
    {
        var lp = Program(step.Program!);
        if (Vm(step.Program!, lp, out var refused) is not { } vm) return refused!;
        var memory = _objects.Memory(_host, _world.Cpus);
        var meta = new byte[IterCtxLayout.MetaSize];
        ulong seqAddr = memory.Map(AddressSpace.Kernel, new byte[32], writable: false);
        ulong metaAddr = memory.Map(AddressSpace.Kernel, meta, writable: false);
        BinaryPrimitives.WriteUInt64LittleEndian(meta.AsSpan((int)IterCtxLayout.Seq), seqAddr);
        BinaryPrimitives.WriteUInt64LittleEndian(meta.AsSpan((int)IterCtxLayout.SessionId), 1);
        var ctxBytes = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(ctxBytes.AsSpan((int)IterCtxLayout.Meta), metaAddr);
        var tasks = _world.Tasks;
        var reader = ctx;
        ulong seed = _world.Seed ^ step.NowNs;
        FaultInfo? fault = null;

        int Show(long index, SeqFile m)
        {
            if (fault is not null) return 1;
            ulong task = 0, seqNum = (ulong)Math.Max(tasks.Length - 1, 0);
            if (index >= 0)
            {
                var t = tasks[(int)index];
                task = SimTaskMemory.Current(memory, _tasks[t.Pid], t.Cpu);
                seqNum = (ulong)index;
            }
            BinaryPrimitives.WriteUInt64LittleEndian(meta.AsSpan((int)IterCtxLayout.SeqNum), seqNum);
            BinaryPrimitives.WriteUInt64LittleEndian(ctxBytes.AsSpan((int)IterCtxLayout.Task), task);
            _model.Seq = m;
            var result = vm.Run(ctxBytes, in reader, seed);
            _model.Seq = null;
            if (result.Fault is { } f)
            {
                fault = new FaultInfo(f.Insn, f.LineText, f.Message);
                return 1;
            }
            return (int)result.Ret;
        }

        SeqReadResult read;
        lock (lp)
        {
            BindMaps(lp);
            read = new BpfIterSession(tasks.Length, Show, Show, step.SeqSize ?? SeqFile.DefaultSize).ReadAll(step.ReadSize);
        }
        return new StepResult { Reads = [.. read.Reads], Text = read.Text, Fault = fault };
    }
}
