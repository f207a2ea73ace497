using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using BpfTraceSim.Cluster.Tests.Infra;
using BpfTraceSim.Contracts.Grains;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Runtime;
using Xunit.Abstractions;

namespace BpfTraceSim.Cluster.Tests;

/// <summary>
/// The silo holding the scenario grain SIGKILLed mid-run: the CLI (redis:// clustering, so it can
/// fail over to another gateway) keeps polling, the next call activates the scenario grain on a
/// survivor, which resumes from its checkpoint (and resumes the lost hosts), and report.json comes
/// out byte for byte as from an uninterrupted run on the embedded silo.
/// </summary>
public sealed class FailoverScenarioGrainTests(FailoverCluster cluster, ITestOutputHelper output) : IClassFixture<FailoverCluster>
{

    [Fact]
    public async Task The_scenario_grains_silo_killed_mid_run_leaves_report_json_byte_identical()
    {
        string dir = Path.Combine(Path.GetTempPath(), "bpfsim-failover-sg-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            string scenario = Path.Combine(dir, "failover.yaml");
            await File.WriteAllTextAsync(scenario, FailoverTests.Scenario);

            var wall = Stopwatch.StartNew();
            var reference = await SiloCluster.RunCliAsync(["run", scenario, "--out", Path.Combine(dir, "ref"), "--quiet"], timeout: TimeSpan.FromSeconds(90));
            Assert.True(reference.Exit == 0, $"embedded run: exit {reference.Exit}: {reference.Stderr}");
            output.WriteLine($"embedded reference run: {wall.Elapsed.TotalSeconds:0.0} s");

            // The CLI finds its gateways in Redis membership: whichever silo the scenario grain lands on,
            // the client has others to go through once that silo is gone.
            wall.Restart();
            var run = SiloCluster.RunCliAsync(["run", scenario, "--out", Path.Combine(dir, "cluster"), "--quiet", "--cluster", "redis://" + cluster.Redis.ConnectionString],
                cluster.ClientEnv(), TimeSpan.FromSeconds(150));

            var mgmt = cluster.Management.GetGrain<IManagementGrain>(0);
            var (runId, scenarioSilo) = await FailoverProbe.FindScenarioGrain(mgmt, run);
            var victim = cluster.Nodes.Single(n => n.SiloPort == scenarioSilo.Endpoint.Port);
            var survivor = cluster.Nodes.First(n => n != victim);

            // The test polls through a survivor's gateway only, so its own calls never wait on the dead silo.
            using var client = await FailoverProbe.ConnectAsync(survivor, cluster.ClusterId);
            var grain = client.Services.GetRequiredService<IGrainFactory>().GetGrain<IScenarioGrain>(runId);
            ScenarioProgress p;
            while ((p = await grain.GetProgress()).WindowsDone < p.WindowCount / 4 || p.WindowCount == 0)
            {
                if (run.IsCompleted) Assert.Fail("the run ended before the kill: " + (await run).Stderr);
                Assert.Equal(ScenarioRunState.Running, p.State);
                await Task.Delay(20);
            }

            long windowsAtKill = (await grain.GetProgress()).WindowsDone;
            var sinceKill = Stopwatch.StartNew();
            using (var proc = Process.GetProcessById(victim.Process.Id)) proc.Kill(); // SIGKILL: no goodbye to the cluster
            output.WriteLine($"killed {victim.Process.Name} (silo port {victim.SiloPort}, holding scenario grain {runId}) at window {windowsAtKill} of {p.WindowCount}; " +
                             $"polling through {survivor.Process.Name}");

            // Progress again: two windows past the kill, which only a new activation can have done.
            double? progressSeconds = null;
            long lastSeen = windowsAtKill;
            string? lastFailure = null;
            int failures = 0;
            while (!run.IsCompleted)
            {
                try
                {
                    p = await grain.GetProgress().WaitAsync(TimeSpan.FromSeconds(2));
                }
                catch (Exception e) when (e is OrleansException or TimeoutException)
                {
                    // One line per kind of failure in a row (rejections repeat every 50 ms until the silo is declared dead).
                    if (failures++ == 0 || e.GetType().Name != lastFailure) output.WriteLine($"  +{S(sinceKill)} s: progress poll failed: {e.GetType().Name}");
                    lastFailure = e.GetType().Name;
                    await Task.Delay(50);
                    continue;
                }
                if (failures > 0)
                {
                    output.WriteLine($"  +{S(sinceKill)} s: answered again after {failures} failed polls");
                    failures = 0;
                    lastFailure = null;
                }
                if (p.WindowsDone != lastSeen)
                {
                    output.WriteLine($"  +{S(sinceKill)} s: window {p.WindowsDone} ({p.State})");
                    lastSeen = p.WindowsDone;
                }
                if (progressSeconds is null && p.WindowsDone >= windowsAtKill + 2)
                {
                    progressSeconds = sinceKill.Elapsed.TotalSeconds;
                    var after = await client.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics();
                    var moved = after.Where(s => s.GrainType.StartsWith(FailoverProbe.ScenarioGrainType, StringComparison.Ordinal)).ToList();
                    Assert.Single(moved);
                    Assert.NotEqual(victim.SiloPort, moved[0].SiloAddress.Endpoint.Port);
                }
                if (p.State != ScenarioRunState.Running) break;
                await Task.Delay(20);
            }
            var (exit, _, stderr) = await run;
            Assert.True(exit == 0, $"cluster run: exit {exit}: {stderr}\n{cluster.Logs()}");
            Assert.NotNull(progressSeconds);
            output.WriteLine($"kill -> windows advancing again: {progressSeconds.Value.ToString("0.000", CultureInfo.InvariantCulture)} s; " +
                             $"cluster run {wall.Elapsed.TotalSeconds:0.0} s in all");

            byte[] expected = await File.ReadAllBytesAsync(Path.Combine(dir, "ref", "report.json"));
            byte[] actual = await File.ReadAllBytesAsync(Path.Combine(dir, "cluster", "report.json"));
            Assert.True(expected.AsSpan().SequenceEqual(actual), "report.json differs from the uninterrupted run's");

            using var json = JsonDocument.Parse(actual);
            var k = json.RootElement.GetProperty("conservation");
            Assert.True(k.GetProperty("ok").GetBoolean());
            long written = k.GetProperty("records_written").GetInt64();
            Assert.True(written > 0);
            Assert.Equal(written, k.GetProperty("records_consumed").GetInt64() + k.GetProperty("records_in_ring_at_end").GetInt64());
            Assert.True(json.RootElement.GetProperty("totals").GetProperty("lost").GetInt64() > 0, "the scenario should lose samples (so lost counts are compared too)");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string S(Stopwatch w) => w.Elapsed.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture);
}
