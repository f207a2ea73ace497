using System.Collections.Immutable;
using System.Diagnostics;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Silo;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// Activates hosts x CPUs CPU grains on one embedded silo (each CPU: an output event with a one-page
// ring, a cpu-clock counter, its slots and metadata copies of its host's events) and reports the
// wall time and the managed heap per simulated CPU.
//   dotnet run -c Release --project bench/Scale -- 6250 16      (100,000 CPUs)
int hosts = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 6250;
int cpus = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 16;
int parallel = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 64;

var builder = Host.CreateApplicationBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Error);
builder.UseOrleans(silo => silo.ConfigureBpfSim(new SimSiloOptions { SiloPort = 0, GatewayPort = 0 }));
using var host = builder.Build();
await host.StartAsync();
var grains = host.Services.GetRequiredService<IGrainFactory>();

var world = World(cpus);
long heapBefore = Heap();
var sw = Stopwatch.StartNew();
var throttle = new SemaphoreSlim(parallel);
var tasks = new List<Task>(hosts);
for (int h = 0; h < hosts; h++)
{
    await throttle.WaitAsync();
    var hostGrain = grains.GetGrain<IHostGrain>($"scale-{h}");
    tasks.Add(hostGrain.Boot(world with { Id = $"scale-{h}" }).ContinueWith(_ => throttle.Release(), TaskScheduler.Default));
    if ((h + 1) % Math.Max(1, hosts / 10) == 0)
        Console.Error.WriteLine($"{(h + 1) * (long)cpus:N0} CPU grains booting, {sw.Elapsed.TotalSeconds:F1}s");
}
await Task.WhenAll(tasks);
double seconds = sw.Elapsed.TotalSeconds;
long heapAfter = Heap();
long total = (long)hosts * cpus;
Console.WriteLine($"hosts {hosts:N0} x cpus {cpus} = {total:N0} CPU grains (+{hosts:N0} host grains)");
Console.WriteLine($"activation: {seconds:F1} s ({total / seconds:N0} CPU grains/s)");
Console.WriteLine($"managed heap: {(heapAfter - heapBefore) / (double)total:N0} bytes per simulated CPU (host grains included); process peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / (1 << 20):N0} MiB");
await host.StopAsync();

static long Heap()
{
    GC.Collect();
    GC.WaitForPendingFinalizers();
    GC.Collect();
    return GC.GetTotalMemory(true);
}

static WorldSpec World(int cpus)
{
    var events = ImmutableArray.CreateBuilder<EventSpec>();
    var outs = ImmutableArray.CreateBuilder<string?>();
    var clks = ImmutableArray.CreateBuilder<string?>();
    for (int c = 0; c < cpus; c++)
    {
        events.Add(new EventSpec { Name = $"out{c}", Id = (ulong)(2 * c + 1), Cpu = c, RingPages = 1 });
        events.Add(new EventSpec { Name = $"clk{c}", Id = (ulong)(2 * c + 2), Cpu = c, Config = 0 });
        outs.Add($"out{c}");
        clks.Add($"clk{c}");
    }
    return new WorldSpec
    {
        Id = "scale",
        Cpus = cpus,
        Maps = [new MapSpec("events", "perf_event_array", cpus), new MapSpec("counters", "perf_event_array", cpus)],
        Events = events.ToImmutable(),
        Slots = ImmutableDictionary<string, ImmutableArray<string?>>.Empty.Add("events", outs.ToImmutable()).Add("counters", clks.ToImmutable()),
    };
}
