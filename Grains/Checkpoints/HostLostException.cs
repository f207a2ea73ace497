namespace BpfTraceSim.Grains.Checkpoints;

/// <summary>
/// A host grain was asked to run, but its activation is new (its silo was lost, or it was
/// collected): the scenario grain answers with <see cref="IScenarioHostRecovery.Resume"/>.
/// </summary>
[GenerateSerializer]
public sealed class HostLostException : Exception
{
    public HostLostException(string message) : base(message) { }
}
