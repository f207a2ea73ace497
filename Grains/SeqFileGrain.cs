using System.Collections.Immutable;
using System.Text.Json;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Grains.Exec;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Btf;
using BpfTraceSim.Kernel.Printk;
using BpfTraceSim.Kernel.Seq;

using BpfTraceSim.Grains.Placement;

namespace BpfTraceSim.Grains;

/// <summary>
/// A bpf_iter seq_file: the iterator program's helper calls are recorded per object and run when
/// user space reads, exactly as bpf_seq_read runs (and re-runs) the program for each object.
/// </summary>
[SimHostPlacement]
public sealed class SeqFileGrain : Grain, ISeqFileGrain
{
    private RecordedBpfIter? _iter;
    private PrintkWorld? _printk;
    private CpuModel? _cpu; // the CPU the iterator program runs on when user space reads
    private Btf? _btf;
    private readonly List<int> _deferred = new();

    private delegate Task<StepResult> SeqStepFn(SeqFileGrain g, ExecStep step);

    /// <summary>The steps a seq_file serves, by StepCall (the step table's StepServer.Seq kinds).</summary>
    private static readonly SeqStepFn?[] Steps = CreateSteps();

    private static SeqStepFn?[] CreateSteps()
    {
        var t = new SeqStepFn?[Enum.GetValues<StepCall>().Length];
        t[(int)StepCall.SeqPrintf] = static (g, s) => g.SeqPrintf(s);
        t[(int)StepCall.SeqWrite] = static (g, s) => g.SeqWrite(s);
        t[(int)StepCall.SeqPrintfBtf] = static (g, s) => g.SeqPrintfBtf(s);
        t[(int)StepCall.SeqEndObject] = static (g, s) => g.EndObject(s);
        t[(int)StepCall.ReadSeq] = static (g, s) => g.Read(s);
        return t;
    }

    public Task<StepResult> Apply(WorldSpec world, ExecStep step)
    {
        var fn = Steps[(int)step.Call] ?? throw new InvalidOperationException($"{step.Call} is not a seq step");
        if (_iter is null) Open(world, step);
        return fn(this, step);
    }

    private Task<StepResult> SeqPrintf(ExecStep step)
    {
        var printk = _printk!;
        var (data, isNull) = ArgMemory.Varargs(step, printk.Memory, printk.Kallsyms);
        string? refused = PrintkHelpers.VerifierCheck(PrintfHelper.SeqPrintf, step.Fmt, (uint)Math.Min(step.FmtSize, uint.MaxValue),
            step.ArgsPtrNull, (uint)Math.Min((ulong)data.Length, uint.MaxValue));
        if (refused is not null) return Task.FromResult(new StepResult { VerifierError = refused });
        byte[] fmt = step.Fmt![..(int)step.FmtSize];
        var cpu = _cpu!;
        return Defer(_iter!.AddStep(m => cpu.SeqPrintf(m, printk, fmt, data, isNull)));
    }

    private Task<StepResult> SeqWrite(ExecStep step)
    {
        byte[] data = step.Data!;
        return Defer(_iter!.AddStep(m => CpuModel.SeqWrite(m, data)));
    }

    private Task<StepResult> SeqPrintfBtf(ExecStep step)
    {
        var printk = _printk!;
        var ptr = BtfPointer(step.Btf!, printk.Memory);
        uint ptrSize = (uint)Math.Min(step.Btf!.PtrSize, uint.MaxValue);
        ulong flags = step.Flags;
        var btf = _btf!;
        return Defer(_iter!.AddStep(m => CpuModel.SeqPrintfBtf(m, btf, printk, ptr, ptrSize, flags)));
    }

    private Task<StepResult> EndObject(ExecStep step)
    {
        _iter!.EndObject((int)step.ProgRet);
        return Task.FromResult(StepResult.Empty);
    }

    private Task<StepResult> Read(ExecStep step)
    {
        var read = _iter!.Read(step.ReadSize);
        return Task.FromResult(new StepResult { Reads = [.. read.Reads], Text = read.Text });
    }

    public Task<ImmutableArray<long>> Finish()
    {
        if (_iter is null) return Task.FromResult(ImmutableArray<long>.Empty);
        bool pending = false;
        foreach (int h in _deferred) pending |= _iter.FirstRunReturn(h) is null;
        if (pending) _iter.Read(1 << 20);
        var rets = ImmutableArray.CreateBuilder<long>(_deferred.Count);
        foreach (int h in _deferred) rets.Add(_iter.FirstRunReturn(h) ?? 0);
        return Task.FromResult(rets.MoveToImmutable());
    }

    private Task<StepResult> Defer(int handle)
    {
        _deferred.Add(handle);
        return Task.FromResult(StepResult.Empty);
    }

    private void Open(WorldSpec world, ExecStep step)
    {
        _iter = new RecordedBpfIter(step.SeqSize ?? SeqFile.DefaultSize);
        var kallsyms = new Kallsyms();
        foreach (var (name, size) in world.Kallsyms) kallsyms.AddOrResize(name, size);
        _printk = new PrintkWorld(new SimMemory(), kallsyms, world.Seed, 1);
        _cpu = new CpuModel(0, printk: _printk.Cpu(0)) { ProgramWorld = _printk };
        _btf = WorldBtf(world);
    }

    /// <summary>The simulated vmlinux BTF plus the world's own types.</summary>
    public static Btf WorldBtf(WorldSpec world)
    {
        var btf = VmlinuxBtf.Create();
        if (world.BtfTypesJson is { } json)
        {
            using var doc = JsonDocument.Parse(json);
            BtfJson.AddTypes(btf, doc.RootElement);
        }
        return btf;
    }

    /// <summary>The struct btf_ptr a program would pass: the value placed in kernel memory, its type id.</summary>
    private BtfPtr BtfPointer(BtfArg arg, SimMemory memory)
    {
        var btf = _btf!;
        uint typeId = arg.TypeId ?? (btf.TryFind(arg.TypeName!, out uint id) ? id : 0);
        byte[] value = arg.ValueBytes ?? [];
        if (arg.ValueJson is { } json && typeId != 0)
        {
            using var doc = JsonDocument.Parse(json);
            value = BtfJson.EncodeValue(btf, typeId, doc.RootElement);
        }
        ulong ptr = arg.PtrNull ? 0 : arg.PtrBad ? SimMemory.BadAddress : memory.Map(AddressSpace.Kernel, value.Length == 0 ? new byte[1] : value);
        return new BtfPtr(ptr, typeId);
    }
}
