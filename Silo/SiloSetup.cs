using BpfTraceSim.Grains;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace BpfTraceSim.Silo;

/// <summary>The one place a silo is configured, for the silo process and the CLI's embedded silo alike.</summary>
public static class SiloSetup
{
    public static ISiloBuilder ConfigureBpfSim(this ISiloBuilder silo, SimSiloOptions options)
    {
        int siloPort = options.SiloPort == 0 ? SimSiloOptions.FreePort() : options.SiloPort;
        int gatewayPort = options.GatewayPort == 0 ? SimSiloOptions.FreePort() : options.GatewayPort;
        switch (options.Clustering.ToLowerInvariant())
        {
            case "localhost":
                silo.UseLocalhostClustering(siloPort, gatewayPort, serviceId: options.ServiceId, clusterId: options.ClusterId);
                break;
            default:
                throw new InvalidOperationException($"BpfSim:Clustering \"{options.Clustering}\" is not known (localhost)");
        }
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = options.ClusterId;
            o.ServiceId = options.ServiceId;
        });
        silo.AddBpfSimGrains();
        return silo;
    }
}
