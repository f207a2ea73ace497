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

/// <summary>Three silo processes of their own: the failover test kills one.</summary>
public sealed class FailoverCluster : SiloCluster
{
    protected override int SiloCount => 3;
}

/// <summary>
/// A silo SIGKILLed in the middle of a scenario: its hosts are resumed on the survivors from their
/// checkpoints (Redis grain storage), the missing windows run again, and report.json comes out
/// byte for byte as from an uninterrupted run on the embedded silo.
/// </summary>
public sealed class FailoverTests(FailoverCluster cluster, ITestOutputHelper output) : IClassFixture<FailoverCluster>
{
    private const string HostGrainType = "BpfTraceSim.Grains.ScenarioHostGrain,";

    /// <summary>240 hosts x 2 CPUs, 100 windows; a 2-page ring and a reader that serves both CPUs' 4,000 samples/s at 300 us each: overloaded, it loses samples.</summary>
    internal const string Scenario = """
        name: failover
        seed: 7
        duration: 5s
        window: 50ms
        fleet:
          - group: node
            hosts: 240
            cpus: 2
            tasks:
              - { comm: app, pid: 100, count: 2 }
        events:
          out:
            config: bpf_output
            per: cpu
            ring_pages: 2
            wakeup_events: 4
            sample_type: [raw]
        maps:
          events: { type: perf_event_array, max_entries: cpus }
        slots:
          events: per_cpu
        programs:
          trace:
            cpus: all
            fire: { process: poisson, rate: 2000/s }
            body:
              - perf_event_output: { map: events, flags: BPF_F_CURRENT_CPU, size: 24 }
        consumers:
          agent:
            events: out
            cpu: 0
            service: { exponential: 300us }
            tail_update: per_record
            wakeup_latency: 0us
            poll_timeout: 100ms
        """;

    [Fact]
    public async Task A_silo_killed_mid_run_leaves_report_json_byte_identical()
    {
        string dir = Path.Combine(Path.GetTempPath(), "bpfsim-failover-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            string scenario = Path.Combine(dir, "failover.yaml");
            await File.WriteAllTextAsync(scenario, Scenario);

            // The reference: the same scenario, uninterrupted, on the CLI's embedded silo.
            var wall = Stopwatch.StartNew();
            var reference = await SiloCluster.RunCliAsync(["run", scenario, "--out", Path.Combine(dir, "ref"), "--quiet"], timeout: TimeSpan.FromSeconds(90));
            Assert.True(reference.Exit == 0, $"embedded run: exit {reference.Exit}: {reference.Stderr}");
            output.WriteLine($"embedded reference run: {wall.Elapsed.TotalSeconds:0.0} s");

            // The cluster run goes through silo 0's gateway only, so the client never talks to the victim.
            var gateway = cluster.Nodes[0];
            wall.Restart();
            var run = SiloCluster.RunCliAsync(["run", scenario, "--out", Path.Combine(dir, "cluster"), "--quiet", "--cluster", gateway.Gateway],
                cluster.ClientEnv(), TimeSpan.FromSeconds(150));

            // The test's own client also talks through silo 0 only: the fixture's management client may have been
            // using the victim's gateway, and its calls then wait out the response timeout.
            using var client = await FailoverProbe.ConnectAsync(gateway, cluster.ClusterId);
            var grains = client.Services.GetRequiredService<IGrainFactory>();
            var mgmt = grains.GetGrain<IManagementGrain>(0);
            var (runId, scenarioSilo) = await FailoverProbe.FindScenarioGrain(mgmt, run);
            var grain = grains.GetGrain<IScenarioGrain>(runId);
            ScenarioProgress p;
            while ((p = await grain.GetProgress()).WindowsDone < p.WindowCount / 4 || p.WindowCount == 0)
            {
                if (run.IsCompleted) Assert.Fail("the run ended before the kill: " + (await run).Stderr);
                Assert.Equal(ScenarioRunState.Running, p.State);
                await Task.Delay(20);
            }

            // The victim: a silo with hosts of this run that is neither the client's gateway nor the scenario grain's.
            var stats = await mgmt.GetDetailedGrainStatistics();
            var hostsBySilo = stats.Where(s => s.GrainType.StartsWith(HostGrainType, StringComparison.Ordinal))
                .GroupBy(s => s.SiloAddress).ToDictionary(g => g.Key, g => g.Select(s => s.GrainId).ToHashSet());
            var victim = cluster.Nodes.Skip(1).First(n => n.SiloPort != scenarioSilo.Endpoint.Port);
            var victimSilo = hostsBySilo.Keys.Single(a => a.Endpoint.Port == victim.SiloPort);
            var victimHosts = hostsBySilo[victimSilo];
            Assert.True(victimHosts.Count > 0, "the victim holds no hosts");

            long windowsAtKill = (await grain.GetProgress()).WindowsDone;
            var sinceKill = Stopwatch.StartNew();
            using (var proc = Process.GetProcessById(victim.Process.Id)) proc.Kill(); // SIGKILL: no goodbye to the cluster
            output.WriteLine($"killed {victim.Process.Name} (silo port {victim.SiloPort}, {victimHosts.Count} of 240 hosts) at window {windowsAtKill} of {p.WindowCount}; " +
                             $"scenario grain on silo port {scenarioSilo.Endpoint.Port}");

            // Progress again: two more windows done, so at least one needed every lost host back.
            double? progressSeconds = null;
            long lastSeen = windowsAtKill;
            while (!run.IsCompleted)
            {
                try
                {
                    p = await grain.GetProgress().WaitAsync(TimeSpan.FromSeconds(2));
                }
                catch (Exception e) when (e is OrleansException or TimeoutException)
                {
                    output.WriteLine($"  +{sinceKill.Elapsed.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture)} s: progress poll failed: {e.GetType().Name}");
                    await Task.Delay(50);
                    continue;
                }
                if (p.WindowsDone != lastSeen)
                {
                    output.WriteLine($"  +{sinceKill.Elapsed.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture)} s: window {p.WindowsDone}");
                    lastSeen = p.WindowsDone;
                }
                if (progressSeconds is null && p.WindowsDone >= windowsAtKill + 2)
                {
                    progressSeconds = sinceKill.Elapsed.TotalSeconds;
                    // The lost hosts run elsewhere now.
                    var after = await mgmt.GetDetailedGrainStatistics();
                    var moved = after.Where(s => s.GrainType.StartsWith(HostGrainType, StringComparison.Ordinal) && victimHosts.Contains(s.GrainId)).ToList();
                    Assert.Equal(victimHosts.Count, moved.Count);
                    Assert.DoesNotContain(moved, s => s.SiloAddress.Equals(victimSilo));
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

            // No record unaccounted for.
            using var json = JsonDocument.Parse(actual);
            var k = json.RootElement.GetProperty("conservation");
            Assert.True(k.GetProperty("ok").GetBoolean());
            long written = k.GetProperty("records_written").GetInt64();
            Assert.True(written > 0);
            Assert.Equal(written, k.GetProperty("records_consumed").GetInt64() + k.GetProperty("records_in_ring_at_end").GetInt64());
            var totals = json.RootElement.GetProperty("totals");
            Assert.Equal(written, totals.GetProperty("records_written").GetInt64());
            Assert.True(totals.GetProperty("lost").GetInt64() > 0, "the scenario should lose samples (so lost counts are compared too)");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
