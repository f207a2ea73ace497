using System.Collections.Immutable;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Grains.Exec;
using BpfTraceSim.Kernel.Perf;

namespace BpfTraceSim.Grains.Tests;

/// <summary>The CPU grain's kernel without a silo: task moves hand live per-task events over intact.</summary>
public sealed class CpuKernelTests
{
    [Fact]
    public void A_moved_per_task_event_keeps_its_ring_contents_head_and_records()
    {
        var world = new WorldSpec
        {
            Id = "k",
            Cpus = 2,
            Tasks = [new TaskSpec(100, "app", 0, 100)],
            Maps = [new MapSpec("events", "perf_event_array", 2)],
            Events = [new EventSpec { Name = "mine", Id = 1, Config = PerfConstants.PERF_COUNT_SW_BPF_OUTPUT, Pid = 100, RingPages = 1, SampleType = PerfConstants.PERF_SAMPLE_RAW }],
            Slots = ImmutableDictionary<string, ImmutableArray<string?>>.Empty.Add("events", ["mine", "mine"]),
        };
        var cpu0 = new CpuKernel(world, 0);
        var cpu1 = new CpuKernel(world, 1);
        var step = new ExecStep { Call = StepCall.PerfEventOutput, Cpu = 0, Pid = 100, Map = "events", Flags = 0, Data = [1, 2, 3, 4, 5, 6, 7, 8] };
        Assert.Equal(0, cpu0.Invoke(step).Ret);
        var handoff = cpu0.MoveTask(100, 1, []);
        Assert.Single(handoff);
        Assert.Empty(cpu1.MoveTask(100, 1, handoff));
        Assert.Equal(0, cpu1.Invoke(step with { Cpu = 1 }).Ret);
        var consumed = cpu1.Consume("mine");
        Assert.Equal(2, consumed.Records!.Value.Length);
        Assert.Equal(48UL, consumed.DataHead);
        Assert.Equal("09000000010018000c000000010203040506070800000000", Convert.ToHexStringLower(consumed.Records.Value[1].Record));
    }
}
