using BpfTraceSim.Grains.Placement;
using Microsoft.Extensions.DependencyInjection;

namespace BpfTraceSim.Grains;

/// <summary>Registers the simulated-host placement (<see cref="SimHostPlacement"/>) in a silo.</summary>
public static class PlacementSetup
{
    private sealed class Marker;

    /// <summary>Idempotent: a second call registers nothing.</summary>
    public static ISiloBuilder AddSimHostPlacement(this ISiloBuilder silo)
    {
        if (silo.Services.Any(d => d.ServiceType == typeof(Marker))) return silo;
        silo.Services.AddSingleton<Marker>();
        return silo.AddPlacementDirector<SimHostPlacement, SimHostPlacementDirector>();
    }
}
