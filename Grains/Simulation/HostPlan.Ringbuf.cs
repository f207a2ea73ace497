using BpfTraceSim.Contracts.Scenarios;

namespace BpfTraceSim.Grains.Simulation;

/// <summary>A ringbuf map of a scenario host and its reader (libbpf ring_buffer__poll), if any.</summary>
internal sealed class RingbufPlan
{
    public required MapSpec Spec;
    public int Index;
    public ConsumerSpec? Consumer;
}

internal sealed partial class HostPlan
{
    /// <summary>The scenario's ringbuf maps: one ring per host each, shared by the host's CPUs.</summary>
    public RingbufPlan[] Ringbufs = [];

    public int RingbufIndex(string name)
    {
        for (int i = 0; i < Ringbufs.Length; i++)
            if (Ringbufs[i].Spec.Name == name) return i;
        throw new SimulationSetupException($"no ringbuf map '{name}'");
    }

    private static RingbufPlan[] RingbufPlans(Scenario s, MapSpec[] ringbufs)
    {
        var plans = new RingbufPlan[ringbufs.Length];
        for (int i = 0; i < plans.Length; i++)
        {
            plans[i] = new RingbufPlan { Spec = ringbufs[i], Index = i };
            foreach (var c in s.Consumers)
                if (c.Ringbuf == ringbufs[i].Name) plans[i].Consumer = c;
        }
        return plans;
    }
}
