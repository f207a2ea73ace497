using System.Net;
using BpfTraceSim.Grains;
using BpfTraceSim.Grains.Checkpoints;
using Microsoft.Extensions.Options;
using Orleans.Persistence;
using Orleans.Serialization;
using Orleans.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Hosting.Kubernetes;
using StackExchange.Redis;

namespace BpfTraceSim.Silo;

/// <summary>The one place a silo is configured, for the silo process and the CLI's embedded silo alike.</summary>
public static class SiloSetup
{
    /// <summary>Environment the Kubernetes hosting package reads (set through the downward API).</summary>
    public static readonly string[] KubernetesEnvironment =
    [
        KubernetesHostingOptions.PodNameEnvironmentVariable,
        KubernetesHostingOptions.PodNamespaceEnvironmentVariable,
        KubernetesHostingOptions.PodIPEnvironmentVariable,
        KubernetesHostingOptions.ServiceIdEnvironmentVariable,
        KubernetesHostingOptions.ClusterIdEnvironmentVariable,
    ];

    public static ISiloBuilder ConfigureBpfSim(this ISiloBuilder silo, SimSiloOptions options) =>
        silo.ConfigureBpfSim(options, Environment.GetEnvironmentVariable);

    /// <summary>env: how environment variables are read (tests pass their own).</summary>
    public static ISiloBuilder ConfigureBpfSim(this ISiloBuilder silo, SimSiloOptions options, Func<string, string?> env)
    {
        int siloPort = options.SiloPort == 0 ? SimSiloOptions.FreePort() : options.SiloPort;
        int gatewayPort = options.GatewayPort == 0 ? SimSiloOptions.FreePort() : options.GatewayPort;
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = options.ClusterId;
            o.ServiceId = options.ServiceId;
        });
        switch (options.Clustering.ToLowerInvariant())
        {
            case "localhost":
                silo.UseLocalhostClustering(siloPort, gatewayPort, serviceId: options.ServiceId, clusterId: options.ClusterId);
                break;
            case "redis":
                silo.ConfigureEndpoints(options, siloPort, gatewayPort);
                silo.UseRedisMembership(options);
                break;
            case "kubernetes":
                var missing = KubernetesEnvironment.Where(v => string.IsNullOrWhiteSpace(env(v))).ToArray();
                if (missing.Length > 0)
                    throw new InvalidOperationException(
                        $"BpfSim:Clustering \"kubernetes\" needs the environment variables {string.Join(", ", missing)} (downward API; see k8s/base/silo.yaml)");
                string podIpText = env(KubernetesHostingOptions.PodIPEnvironmentVariable)!;
                var podIp = IPAddress.TryParse(podIpText, out var ip) ? ip : throw new InvalidOperationException($"POD_IP \"{podIpText}\" is not an IP address");
                // The hosting package binds the pod's interfaces; it advertises POD_IP only if nothing chose an
                // address before it, and Orleans' defaults do: say it here.
                silo.Configure<EndpointOptions>(o =>
                {
                    o.SiloPort = siloPort;
                    o.GatewayPort = gatewayPort;
                    o.AdvertisedIPAddress = podIp;
                });
                // After our ClusterOptions: ORLEANS_SERVICE_ID / ORLEANS_CLUSTER_ID win.
                silo.UseKubernetesHosting(o => o.Configure(k => k.DeleteDefunctSiloPods = options.DeleteDefunctSiloPods));
                silo.UseRedisMembership(options);
                break;
            default:
                throw new InvalidOperationException($"BpfSim:Clustering \"{options.Clustering}\" is not known (localhost, redis, kubernetes)");
        }
        if (options.Tls.Enabled) silo.UseBpfSimTls(options.Tls);
        else if (!string.IsNullOrWhiteSpace(options.Tls.CaPath))
            throw new InvalidOperationException("BpfSim:Tls:CaPath is set but BpfSim:Tls:CertificatePath is not: a silo needs its own certificate");
        silo.AddBpfSimGrains();
        return silo;
    }

    private static void ConfigureEndpoints(this ISiloBuilder silo, SimSiloOptions options, int siloPort, int gatewayPort)
    {
        var listen = options.Address;
        IPAddress? advertised = options.AdvertisedAddress is { Length: > 0 } a
            ? SimSiloOptions.ParseAddress(a, nameof(SimSiloOptions.AdvertisedAddress))
            : listen.Equals(IPAddress.Any) || listen.Equals(IPAddress.IPv6Any) ? null : listen;
        silo.Configure<EndpointOptions>(o =>
        {
            o.SiloPort = siloPort;
            o.GatewayPort = gatewayPort;
            if (advertised is not null) o.AdvertisedIPAddress = advertised;
            o.SiloListeningEndpoint = new IPEndPoint(listen, siloPort);
            o.GatewayListeningEndpoint = new IPEndPoint(listen, gatewayPort);
        });
    }

    private static void UseRedisMembership(this ISiloBuilder silo, SimSiloOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.Redis))
            throw new InvalidOperationException($"BpfSim:Clustering \"{options.Clustering}\" needs BpfSim:Redis (a connection string such as 127.0.0.1:6379)");
        string redis = options.Redis;
        silo.UseRedisClustering(o => o.ConfigurationOptions = RedisOptions(redis));
        silo.AddDurableCheckpointStorage((s, name) => s.AddRedisGrainStorage(name, (OptionsBuilder<RedisStorageOptions> o) => o.Configure<Serializer>((r, serializer) =>
        {
            r.ConfigurationOptions = RedisOptions(redis);
            r.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer);
            r.DeleteStateOnClear = true; // a finished run leaves no key behind
        })));
    }

    /// <summary>StackExchange.Redis options that keep retrying while Redis starts (a pod may come up first).</summary>
    public static ConfigurationOptions RedisOptions(string connectionString)
    {
        var o = ConfigurationOptions.Parse(connectionString);
        o.AbortOnConnectFail = false;
        return o;
    }
}
