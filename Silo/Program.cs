using BpfTraceSim.Silo;
using Microsoft.Extensions.Hosting;

// The silo process: `dotnet run --project Silo` (configuration: appsettings.json beside the binary, env BpfSim__*,
// --BpfSim:Key=value; docs/cluster.md). `bpfsim-silo probe URL` is the container health check.
if (args.Length == 2 && args[0] == "probe") return await SiloHost.ProbeAsync(args[1]);
using var host = SiloHost.Build(args);
await host.RunAsync();
return 0;
