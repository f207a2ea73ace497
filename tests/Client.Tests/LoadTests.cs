using BpfTraceSim.Client.Commands;
using BpfTraceSim.Client.Load;

namespace BpfTraceSim.Client.Tests;

/// <summary>`bpfsim load`: the driver's accounting and its reports (functional, not a performance test).</summary>
[Collection(SiloCollection.Name)]
public sealed class LoadTests(EmbeddedSiloFixture silo)
{
    [Theory]
    [InlineData("output", "output", 64)]
    [InlineData("output:8", "output", 8)]
    [InlineData("read", "read", 0)]
    [InlineData("read_value", "read_value", 0)]
    [InlineData("vprintk", "vprintk", 0)]
    public void Mix_items_parse(string item, string kind, int size) => Assert.Equal(new LoadCall(kind, size), LoadCall.Parse(item));

    [Theory]
    [InlineData("output:x")]
    [InlineData("write")]
    [InlineData("read:8")]
    public void Bad_mix_items_are_refused_naming_the_option(string item) =>
        Assert.Contains("--mix", Assert.Throws<ArgumentException>(() => LoadCall.Parse(item)).Message);

    [Theory]
    [InlineData("10s", 10.0)]
    [InlineData("500ms", 0.5)]
    [InlineData("2m", 120.0)]
    [InlineData("00:00:03", 3.0)]
    public void Durations_parse(string text, double seconds) => Assert.Equal(seconds, LoadCommand.ParseDuration(text).TotalSeconds);

    [Fact]
    public async Task Every_helper_call_of_every_batch_is_counted_with_its_kernel_return()
    {
        var options = new LoadOptions
        {
            Mix = [LoadCall.Parse("output:64"), LoadCall.Parse("read_value")],
            Duration = TimeSpan.FromMilliseconds(800),
            Warmup = TimeSpan.FromMilliseconds(100),
            Batch = 50,
            Callers = 2,
            Cpus = 2,
        };
        var result = await new LoadDriver(await silo.Grains(), options).RunAsync(CancellationToken.None);
        Assert.True(result.GrainCalls > 0);
        Assert.Equal(result.GrainCalls * 50, result.Calls);
        // Overwrite rings never fail; a cpu-clock counter on the caller's own CPU reads fine.
        Assert.Equal([0L], result.Returns["output:64"].Keys);
        Assert.Equal([0L], result.Returns["read_value"].Keys);
        Assert.Equal(result.Calls, result.Returns.Values.Sum(r => r.Values.Sum()));
        string json = LoadReport.Json(result);
        Assert.Contains("\"helper_calls\": " + result.Calls, json);
        string html = LoadReport.Html(result);
        Assert.Contains("<figure id=\"latency-percentiles\">", html);
        Assert.Contains("<figure id=\"throughput\">", html);
        Assert.Equal(2, html.Split("<svg").Length - 1);
    }
}
