using BpfTraceSim.Grains.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using Orleans.Dashboard;

namespace BpfTraceSim.Silo;

/// <summary>
/// The silo process: the silo (SiloSetup) plus what only a standalone silo has: an HTTP port with /healthz, /readyz
/// and /metrics, the Orleans Dashboard on its own port, JSON logs, a shutdown timeout.
/// </summary>
public static class SiloHost
{
    public const string DashboardPath = "/dashboard";

    /// <summary>Reads configuration (appsettings.json beside the binary, env BpfSim__*, --BpfSim:Key=value) and builds the host.</summary>
    public static IHost Build(string[] args)
    {
        var settings = new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory };
        var builder = WebApplication.CreateSlimBuilder(settings);
        var options = builder.Configuration.GetSection(SimSiloOptions.Section).Get<SimSiloOptions>() ?? new SimSiloOptions();
        ConfigureLogging(builder.Logging, options);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(options.ShutdownTimeoutSeconds));

        bool http = options.HttpPort != 0, dashboard = options.DashboardPort != 0;
        builder.WebHost.ConfigureKestrel(k =>
        {
            if (http) k.Listen(SimSiloOptions.ParseAddress(options.HttpAddress, nameof(options.HttpAddress)), options.HttpPort);
            if (dashboard) k.Listen(SimSiloOptions.ParseAddress(options.DashboardAddress, nameof(options.DashboardAddress)), options.DashboardPort);
        });
        if (!http && !dashboard) builder.WebHost.UseUrls(); // no Kestrel endpoints below: nothing is mapped

        var readiness = new SiloReadiness();
        builder.UseOrleans(silo =>
        {
            silo.ConfigureBpfSim(options);
            silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(readiness);
            if (dashboard) silo.AddDashboard();
        });
        builder.Services.AddSingleton(readiness);
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("bpfsim-silo", serviceInstanceId: options.ClusterId + "/" + Environment.MachineName + "/" + Environment.ProcessId))
            .WithMetrics(m => m
                .AddMeter(SimMetrics.MeterName, "Microsoft.Orleans")
                .AddPrometheusExporter());

        var app = builder.Build();
        // Each port serves only its own paths: the dashboard never answers on the (possibly public) HTTP port.
        app.Use(async (ctx, next) =>
        {
            bool onDashboardPort = dashboard && ctx.Connection.LocalPort == options.DashboardPort;
            if (onDashboardPort && ctx.Request.Path == "/")
            {
                ctx.Response.Redirect(DashboardPath + "/");
                return;
            }
            if (onDashboardPort != ctx.Request.Path.StartsWithSegments(DashboardPath))
            {
                ctx.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
            await next(ctx);
        });
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", (SiloReadiness r) => r.Ready ? Results.Text("ready\n") : Results.Text("starting\n", statusCode: StatusCodes.Status503ServiceUnavailable));
        app.MapPrometheusScrapingEndpoint("/metrics");
        if (dashboard) app.MapOrleansDashboard(DashboardPath);

        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("BpfTraceSim.Silo");
        app.Lifetime.ApplicationStarted.Register(() => log.LogInformation(
            "bpfsim-silo {Clustering} cluster {ClusterId}: silo port {SiloPort}, gateway port {GatewayPort}, http {Http}, dashboard {Dashboard}, tls {Tls}",
            options.Clustering, options.ClusterId, options.SiloPort, options.GatewayPort,
            http ? options.HttpAddress + ":" + options.HttpPort : "off", dashboard ? options.DashboardAddress + ":" + options.DashboardPort : "off",
            options.Tls.Enabled ? "on" : "off"));
        // A stop that outlives its timeout (e.g. Redis gone: membership retries without end) would leave the process
        // hanging; end it as Kubernetes would at terminationGracePeriodSeconds.
        app.Lifetime.ApplicationStopping.Register(() => _ = Task.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(options.ShutdownTimeoutSeconds + 5));
            log.LogCritical("bpfsim-silo: shutdown still running {Seconds} s after it began; killing the process", options.ShutdownTimeoutSeconds + 5);
            await Task.Delay(500); // let the console logger write it
            System.Diagnostics.Process.GetCurrentProcess().Kill();
        }));
        return app;
    }

    private static void ConfigureLogging(ILoggingBuilder logging, SimSiloOptions options)
    {
        logging.ClearProviders();
        if (!Enum.TryParse<LogLevel>(options.LogLevel, ignoreCase: true, out var level))
            throw new InvalidOperationException($"BpfSim:LogLevel \"{options.LogLevel}\" is not a log level (Trace, Debug, Information, Warning, Error, Critical)");
        logging.SetMinimumLevel(level);
        // Our own start line and lifetime events even at the default Warning.
        logging.AddFilter("BpfTraceSim", level < LogLevel.Information ? level : LogLevel.Information);
        switch (options.LogFormat.ToLowerInvariant())
        {
            case "json":
                logging.AddJsonConsole(o =>
                {
                    o.UseUtcTimestamp = true;
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                });
                break;
            case "simple":
                logging.AddSimpleConsole(o =>
                {
                    o.SingleLine = true;
                    o.UseUtcTimestamp = true;
                    o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                });
                break;
            default:
                throw new InvalidOperationException($"BpfSim:LogFormat \"{options.LogFormat}\" is not known (simple, json)");
        }
    }

    /// <summary>`bpfsim-silo probe URL`: exit 0 if URL answers 2xx within 3 s (a container HEALTHCHECK without curl).</summary>
    public static async Task<int> ProbeAsync(string url)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        try
        {
            using var response = await client.GetAsync(url);
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return 1;
        }
    }
}
