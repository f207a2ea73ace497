using Orleans.Runtime;

namespace BpfTraceSim.Silo;

/// <summary>/readyz: true from the moment the silo is Active until it starts shutting down.</summary>
public sealed class SiloReadiness : ILifecycleParticipant<ISiloLifecycle>
{
    private volatile bool _ready;

    public bool Ready => _ready;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(SiloReadiness), ServiceLifecycleStage.Active,
            _ => { _ready = true; return Task.CompletedTask; },
            _ => { _ready = false; return Task.CompletedTask; });
}
