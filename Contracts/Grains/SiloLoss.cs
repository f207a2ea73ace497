using Orleans.Runtime.Messaging;

namespace BpfTraceSim.Contracts.Grains;

/// <summary>What a grain call throws when the silo that holds (or held) the grain is gone, by exception type.</summary>
public static class SiloLoss
{
    /// <summary>
    /// The call timed out, the silo was declared dead, the message could not be delivered or the
    /// connection failed (also when wrapped in another OrleansException): calling again reaches
    /// the grain's new activation once membership has moved it.
    /// </summary>
    public static bool Is(Exception e) =>
        e is TimeoutException or SiloUnavailableException or OrleansMessageRejectionException or ConnectionFailedException
        || (e is OrleansException && e.InnerException is { } inner && Is(inner));
}
