using System.Collections.Immutable;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Perf;

namespace BpfTraceSim.Grains.Tests;

/// <summary>The perf-event cases of docs/kernel-semantics.md, run through host, program and CPU grains.</summary>
[Collection(ClusterCollection.Name)]
public sealed class PerfThroughGrainsTests(ClusterFixture fixture)
{
    private static EventSpec Output(string name, ulong id, int cpu, int? pages = 1, ulong sampleType = PerfConstants.PERF_SAMPLE_RAW) => new()
    {
        Name = name, Id = id, Type = PerfConstants.PERF_TYPE_SOFTWARE, Config = PerfConstants.PERF_COUNT_SW_BPF_OUTPUT,
        Cpu = cpu, SampleType = sampleType, RingPages = pages,
    };

    private static WorldSpec TwoCpus(params string?[] slots) => new()
    {
        Id = "t",
        Cpus = 2,
        Tasks = [new TaskSpec(100, "app", 0, 100), new TaskSpec(200, "sleeper", 1, 200)],
        Maps = [new MapSpec("events", "perf_event_array", 2)],
        Events =
        [
            Output("out0", 1, 0), Output("out1", 2, 1),
            new EventSpec { Name = "clk", Id = 3, Config = PerfConstants.PERF_COUNT_SW_CPU_CLOCK, Cpu = 1 },
            new EventSpec { Name = "mine", Id = 4, Config = PerfConstants.PERF_COUNT_SW_BPF_OUTPUT, Pid = 100, Cpu = -1, RingPages = 1 },
            new EventSpec { Name = "inh", Id = 5, Config = PerfConstants.PERF_COUNT_SW_CPU_CLOCK, Cpu = 0, Inherit = true },
        ],
        Slots = ImmutableDictionary<string, ImmutableArray<string?>>.Empty.Add("events", [.. slots]),
    };

    private async Task<(string Host, IHostGrain Grain)> Boot(WorldSpec world)
    {
        string id = "g-" + Guid.NewGuid().ToString("N");
        var host = fixture.Grains.GetGrain<IHostGrain>(id);
        await host.Boot(world);
        return (id, host);
    }

    private Task<StepResult> Call(string host, ExecStep step) =>
        fixture.Grains.GetGrain<IProgramGrain>($"{host}/exec/{step.Cpu}").Invoke(step);

    private static ExecStep Out(int cpu, ulong flags, int pid = 0, byte[]? data = null) => new()
    {
        Call = StepCall.PerfEventOutput, Cpu = cpu, Pid = pid, Map = "events", Flags = flags, Data = data ?? [1, 2, 3, 4, 5, 6, 7, 8],
    };

    [Fact]
    public async Task A_program_counts_its_runs_as_run_cnt_single_and_batched()
    {
        var (id, _) = await Boot(TwoCpus("out0", "out1"));
        var program = fixture.Grains.GetProgramGrain(new ProgramKey(id, "exec", 0));
        Assert.Equal(new ProgramStats(0), await program.GetStats());
        await program.Invoke(Out(0, BpfFlags.BPF_F_CURRENT_CPU, 100));
        var batch = await program.InvokeBatch(Out(0, BpfFlags.BPF_F_CURRENT_CPU, 100), 5);
        Assert.Equal(5, batch.Calls);
        Assert.Equal(new ProgramStats(6), await program.GetStats());
    }

    [Fact]
    public async Task Swapped_slots_current_cpu_is_eopnotsupp_and_explicit_index_writes_only_cpu0s_ring()
    {
        var (id, host) = await Boot(TwoCpus("out1", "out0"));
        Assert.Equal(-Errno.EOPNOTSUPP, (await Call(id, Out(0, BpfFlags.BPF_F_CURRENT_CPU, 100))).Ret);
        Assert.Equal(0, (await Call(id, Out(0, 1, 100))).Ret);

        var mine = await host.Apply(new ExecStep { Call = StepCall.Consume, Event = "out0" });
        var rec = Assert.Single(mine.Records!.Value);
        Assert.Equal("sample", rec.Type);
        Assert.Equal(24, rec.Size);
        Assert.Equal("09000000010018000c000000010203040506070800000000", Convert.ToHexStringLower(rec.Record));
        Assert.Equal(24UL, mine.DataHead);

        var other = await host.Apply(new ExecStep { Call = StepCall.Consume, Event = "out1" });
        Assert.Empty(other.Records!.Value);
        Assert.Equal(0UL, other.DataHead);
    }

    [Fact]
    public async Task Read_of_another_cpus_counter_is_einval_in_the_u64()
    {
        var (id, _) = await Boot(TwoCpus("clk", "clk"));
        var r = await Call(id, new ExecStep { Call = StepCall.PerfEventRead, Cpu = 0, Map = "events", Flags = 0 });
        Assert.Equal(-Errno.EINVAL, r.Ret);
        Assert.Equal(0xffffffffffffffeaUL, r.RetU64);
    }

    [Fact]
    public async Task Clock_counts_simulated_time_and_disable_freezes_it()
    {
        var (id, host) = await Boot(TwoCpus(null, "clk"));
        await host.Apply(new ExecStep { Call = StepCall.AdvanceNs, AdvanceNs = 1000 });
        await host.Apply(new ExecStep { Call = StepCall.Disable, Event = "clk" });
        await host.Apply(new ExecStep { Call = StepCall.AdvanceNs, AdvanceNs = 500 });
        var r = await Call(id, new ExecStep { Call = StepCall.PerfEventReadValue, Cpu = 1, Map = "events", Flags = BpfFlags.BPF_F_CURRENT_CPU, Size = 24, BufSize = 24 });
        Assert.Equal(0, r.Ret);
        Assert.Equal(new PerfValue(1000, 1000, 1000), r.Value);
    }

    [Fact]
    public async Task Per_task_output_event_follows_its_task_to_another_cpu_with_its_ring()
    {
        var (id, host) = await Boot(TwoCpus("mine", "mine"));
        Assert.Equal(0, (await Call(id, Out(0, 0, pid: 100))).Ret);
        await host.Apply(new ExecStep { Call = StepCall.SetTaskCpu, Pid = 100, To = 1 });
        // Still the current task's own event: works from its new CPU, with any index.
        Assert.Equal(0, (await Call(id, Out(1, 0, pid: 100))).Ret);
        // On CPU 0 the task no longer runs.
        Assert.Equal(-Errno.EOPNOTSUPP, (await Call(id, Out(0, 0))).Ret);
        var recs = await host.Apply(new ExecStep { Call = StepCall.Consume, Event = "mine" });
        Assert.Equal(2, recs.Records!.Value.Length);
        Assert.Equal(48UL, recs.DataHead);
    }

    [Fact]
    public async Task Map_updates_are_checked_as_bpf_map_update_elem_checks_them()
    {
        var (id, host) = await Boot(TwoCpus("inh", null));
        // The inherit event was refused at boot: the slot is empty.
        Assert.Equal(-Errno.ENOENT, (await Call(id, Out(0, 0))).Ret);
        Assert.Equal(-Errno.E2BIG, (await host.Apply(new ExecStep { Call = StepCall.UpdateSlot, Map = "events", Index = 2, Event = "out0" })).Ret);
        Assert.Equal(-Errno.EOPNOTSUPP, (await host.Apply(new ExecStep { Call = StepCall.UpdateSlot, Map = "events", Index = 0, Event = "inh" })).Ret);
        Assert.Equal(-Errno.ENOENT, (await host.Apply(new ExecStep { Call = StepCall.DeleteSlot, Map = "events", Index = 1 })).Ret);
        Assert.Equal(0, (await host.Apply(new ExecStep { Call = StepCall.UpdateSlot, Map = "events", Index = 1, Event = "out0" })).Ret);
        // The update reached CPU 0's grain: index 1 now holds its own output event.
        Assert.Equal(0, (await Call(id, Out(0, 1))).Ret);
        Assert.Equal(0, (await host.Apply(new ExecStep { Call = StepCall.DeleteSlot, Map = "events", Index = 1 })).Ret);
        Assert.Equal(-Errno.ENOENT, (await Call(id, Out(0, 1))).Ret);
    }
}
