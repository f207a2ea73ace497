namespace BpfTraceSim.Grains.Checkpoints;

/// <summary>
/// A scenario host grain's checkpoint: the window boundary and the engine's state there
/// (<c>HostSimulation.Checkpoint()</c>: streams, rings, readers, running totals, object maps).
/// </summary>
[GenerateSerializer]
public sealed class HostCheckpoint
{
    /// <summary>Window boundary: the state before window <see cref="Window"/> runs.</summary>
    [Id(0)] public long Window { get; set; }
    [Id(1)] public byte[] Engine { get; set; } = [];
}
