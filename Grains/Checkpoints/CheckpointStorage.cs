using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Storage;

namespace BpfTraceSim.Grains.Checkpoints;

/// <summary>
/// The grain storage scenario grains and scenario host grains keep their checkpoint in, injected as
/// <c>[PersistentState(StateName, Name)]</c>: Redis when the silo's clustering uses Redis
/// (Silo/SiloSetup.cs), otherwise process memory (the embedded silo and test clusters: one process,
/// a silo cannot be lost on its own). Every checkpoint goes through the Orleans serializer, whichever
/// storage holds it.
/// </summary>
public static class CheckpointStorage
{
    /// <summary>The grain storage name.</summary>
    public const string Name = "checkpoints";

    /// <summary>The state name of each grain's one checkpoint (Redis key bpfsim/state/&lt;grain id&gt;/checkpoint).</summary>
    public const string StateName = "checkpoint";

    /// <summary>
    /// Registers a storage that outlives a silo (Redis) under <see cref="Name"/>: checkpoints are then
    /// taken by default (<see cref="CheckpointPolicy"/>). Call before AddBpfSimGrains.
    /// </summary>
    public static ISiloBuilder AddDurableCheckpointStorage(this ISiloBuilder silo, Action<ISiloBuilder, string> addStorage)
    {
        addStorage(silo, Name);
        silo.Services.AddSingleton<DurableMarker>();
        return silo;
    }

    /// <summary>Process memory under <see cref="Name"/>, unless a storage of that name was registered already.</summary>
    internal static void AddMemoryUnlessRegistered(ISiloBuilder silo)
    {
        foreach (var d in silo.Services)
            if (d.IsKeyedService && d.ServiceType == typeof(IGrainStorage) && Equals(d.ServiceKey, Name)) return;
        silo.AddMemoryGrainStorage(Name, (OptionsBuilder<MemoryGrainStorageOptions> o) => o.Configure<Serializer>((m, serializer) => m.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer)));
    }

    /// <summary>True when the checkpoints outlive this silo (a durable storage was registered).</summary>
    public static bool IsDurable(IServiceProvider services) => services.GetService<DurableMarker>() is not null;

    /// <summary>
    /// Writes the state under its ETag guard: false when another activation of the grain wrote
    /// since this one read (the storage refused the ETag). The caller's state is then stale: it must
    /// stop and deactivate, never overwrite what the other activation stored.
    /// </summary>
    public static async Task<bool> TryWriteAsync<T>(this IPersistentState<T> state)
    {
        try
        {
            await state.WriteStateAsync();
            return true;
        }
        catch (InconsistentStateException)
        {
            return false;
        }
    }

    /// <summary>Deletes the checkpoint (the run is over); a newer ETag only means another activation wrote last, and it goes too.</summary>
    public static async Task ClearAsync<T>(this IPersistentState<T> state)
    {
        if (!state.RecordExists) return;
        try
        {
            await state.ClearStateAsync();
        }
        catch (InconsistentStateException)
        {
            await state.ReadStateAsync();
            if (state.RecordExists) await state.ClearStateAsync();
        }
    }

    private sealed class DurableMarker;
}
