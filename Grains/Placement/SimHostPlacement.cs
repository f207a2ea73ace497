using BpfTraceSim.Contracts.Grains;
using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace BpfTraceSim.Grains.Placement;

/// <summary>
/// Places every grain of one simulated host on one silo, so a helper call never crosses the
/// network, while hosts spread over the silos. The host is the grain's string key up to its first
/// '/': "web-3", "web-3/2" (a CPU) and "web-3/exec/2" (a program) land together; a scenario run's
/// host grain "{run}:{host}" is its own host key.
/// </summary>
[Serializable, GenerateSerializer, Immutable, SuppressReferenceTracking]
public sealed class SimHostPlacement : PlacementStrategy
{
    internal static SimHostPlacement Singleton { get; } = new();
}

/// <summary>Marks a grain class as placed by its simulated host (<see cref="SimHostPlacement"/>).</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class SimHostPlacementAttribute : PlacementAttribute
{
    public SimHostPlacementAttribute() : base(SimHostPlacement.Singleton) { }
}

/// <summary>
/// Picks the silo for a host from a stable hash of the host key over the compatible silos in
/// address order: the same host gets the same silo from any silo that decides, in any process.
/// </summary>
public sealed class SimHostPlacementDirector : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var silos = context.GetCompatibleSilos(target);
        if (silos.Length == 0) throw new OrleansException($"no silo can host {target.GrainIdentity}");
        var ordered = (SiloAddress[])silos.Clone();
        Array.Sort(ordered);
        string key = target.GrainIdentity.Key.ToString() ?? "";
        return Task.FromResult(ordered[Pick(HostKey(key), ordered.Length)]);
    }

    /// <summary>The part of a grain key that names the simulated host.</summary>
    public static ReadOnlySpan<char> HostKey(string grainKey) => GrainKeys.HostOf(grainKey);

    /// <summary>Index of the silo for a host key among n silos (jump consistent hash of FNV-1a 64).</summary>
    public static int Pick(ReadOnlySpan<char> hostKey, int n)
    {
        // string.GetHashCode is randomised per process; silos must agree, so FNV-1a over the UTF-16 units.
        ulong h = 14695981039346656037UL;
        foreach (char c in hostKey)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        // Jump consistent hash (Lamping and Veach): a new silo takes over only 1/n of the hosts.
        long b = -1, j = 0;
        while (j < n)
        {
            b = j;
            h = h * 2862933555777941757UL + 1;
            j = (long)((b + 1) * ((double)(1L << 31) / ((h >> 33) + 1)));
        }
        return (int)b;
    }
}
