using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;

namespace BpfTraceSim.Grains.Checkpoints;

/// <summary>What is stored for one grain: the window boundary it was taken at and opaque bytes.</summary>
[GenerateSerializer]
public sealed class CheckpointBlob
{
    /// <summary>Window boundary: the state before window <see cref="Window"/> runs.</summary>
    [Id(0)] public long Window { get; set; }
    [Id(1)] public byte[] Data { get; set; } = [];
}

/// <summary>The one checkpoint slot of one grain.</summary>
public interface ICheckpointSlot
{
    /// <summary>True when checkpoints outlive this silo (Redis); false for the in-process store.</summary>
    bool Durable { get; }
    Task<CheckpointBlob?> ReadAsync();
    Task WriteAsync(CheckpointBlob blob);
    Task ClearAsync();
}

/// <summary>
/// Where grains keep checkpoints: the grain storage named "checkpoints" when the silo has one (Redis
/// under redis/kubernetes clustering, see Silo/SiloSetup.cs), otherwise an in-process dictionary
/// (the embedded silo: one process, a silo cannot be lost without losing everything).
/// </summary>
public static class CheckpointStore
{
    /// <summary>The grain storage name the silo registers (Silo's SiloSetup.CheckpointStorage).</summary>
    public const string StorageName = "checkpoints";

    private static readonly ConcurrentDictionary<GrainId, CheckpointBlob> Memory = new();

    public static ICheckpointSlot Open(IServiceProvider services, GrainId grain)
    {
        var storage = services.GetKeyedService<IGrainStorage>(StorageName);
        return storage is null ? new MemorySlot(grain) : new GrainStorageSlot(storage, grain);
    }

    /// <summary>Checkpoints kept in this process (tests).</summary>
    internal static int MemoryCount => Memory.Count;

    private sealed class MemorySlot(GrainId grain) : ICheckpointSlot
    {
        public bool Durable => false;

        public Task<CheckpointBlob?> ReadAsync() => Task.FromResult(Memory.TryGetValue(grain, out var b) ? b : null);

        public Task WriteAsync(CheckpointBlob blob)
        {
            Memory[grain] = blob;
            return Task.CompletedTask;
        }

        public Task ClearAsync()
        {
            Memory.TryRemove(grain, out _);
            return Task.CompletedTask;
        }
    }

    private sealed class GrainStorageSlot(IGrainStorage storage, GrainId grain) : ICheckpointSlot
    {
        private const string StateName = "checkpoint";
        private readonly GrainState<CheckpointBlob> _state = new();
        private bool _read;

        public bool Durable => true;

        public async Task<CheckpointBlob?> ReadAsync()
        {
            await storage.ReadStateAsync(StateName, grain, _state);
            _read = true;
            return _state.RecordExists ? _state.State : null;
        }

        public async Task WriteAsync(CheckpointBlob blob)
        {
            // The ETag guards against two writers; a new activation learns the current one first.
            if (!_read) await ReadAsync();
            _state.State = blob;
            try
            {
                await storage.WriteStateAsync(StateName, grain, _state);
            }
            catch (InconsistentStateException)
            {
                // An earlier activation (on a silo declared dead) wrote last: this activation owns the grain now.
                var mine = blob;
                await ReadAsync();
                _state.State = mine;
                await storage.WriteStateAsync(StateName, grain, _state);
            }
        }

        public async Task ClearAsync()
        {
            if (!_read) await ReadAsync();
            if (!_state.RecordExists) return;
            try
            {
                await storage.ClearStateAsync(StateName, grain, _state);
            }
            catch (InconsistentStateException)
            {
                await ReadAsync();
                await storage.ClearStateAsync(StateName, grain, _state);
            }
        }
    }
}
