using BpfTraceSim.Grains.Checkpoints;
using BpfTraceSim.Grains.Exec;
using Microsoft.Extensions.DependencyInjection;

namespace BpfTraceSim.Grains;

/// <summary>Registers what the simulator's grains need in a silo.</summary>
public static class GrainsSetup
{
    public static ISiloBuilder AddBpfSimGrains(this ISiloBuilder silo)
    {
        silo.Services.AddSingleton<HostObjects>();
        // The scenario grains' checkpoint storage: the silo's durable one if it registered one, else memory.
        CheckpointStorage.AddMemoryUnlessRegistered(silo);
        return silo.AddSimHostPlacement();
    }
}
