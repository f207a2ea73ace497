using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace BpfTraceSim.Grains.Checkpoints;

/// <summary>
/// How often a run checkpoints: configuration BpfSim:Checkpoints:EveryWindows (environment
/// BpfSim__Checkpoints__EveryWindows, --BpfSim:Checkpoints:EveryWindows=N on a silo).
/// N &gt; 0: every N windows; 0 or absent: automatic (every window up to 1,024 hosts, then every
/// ceil(hosts / 1,024) windows, so a window's checkpoint volume stays near 1,024 host states);
/// N &lt; 0: never (a lost host then replays from window 0: still exact, only slower). Absent and no
/// durable "checkpoints" storage registered (embedded silo, memory storage): never.
/// </summary>
public static class CheckpointPolicy
{
    public const string ConfigKey = "BpfSim:Checkpoints:EveryWindows";
    public const int HostsPerWindow = 1024;

    /// <summary>Windows between checkpoints for a fleet of hosts; 0 means never.</summary>
    public static int Every(int configured, long hosts)
    {
        if (configured < 0) return 0;
        if (configured > 0) return configured;
        return (int)Math.Max(1, (hosts + HostsPerWindow - 1) / HostsPerWindow);
    }

    public static int Configured(IServiceProvider services)
    {
        var config = services.GetService<IConfiguration>();
        if (config?.GetValue<int?>(ConfigKey) is int configured) return configured;
        // Without durable storage (the CLI's embedded silo, localhost clustering) there is no other
        // silo to resume on: checkpoints would only cost time (serialising every host each window).
        return CheckpointStorage.IsDurable(services) ? 0 : -1;
    }

    /// <summary>True when boundary (the state before window boundary) is one the policy stores.</summary>
    public static bool IsBoundary(long boundary, int every, long windowCount) =>
        every > 0 && boundary > 0 && (boundary % every == 0 || boundary == windowCount);
}
