using BpfTraceSim.Silo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// The silo process: `dotnet run --project Silo` (configuration: appsettings.json, BpfSim__* env vars, --BpfSim:Key=value).
var builder = Host.CreateApplicationBuilder(args);
var options = builder.Configuration.GetSection("BpfSim").Get<SimSiloOptions>() ?? new SimSiloOptions();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.UseOrleans(silo => silo.ConfigureBpfSim(options));
using var host = builder.Build();
await host.RunAsync();
