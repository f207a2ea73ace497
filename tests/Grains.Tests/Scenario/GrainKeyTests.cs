using BpfTraceSim.Contracts.Grains;
using BpfTraceSim.Grains.Placement;

namespace BpfTraceSim.Grains.Tests.Scenario;

/// <summary>Typed grain keys: their string form (what Orleans stores) and back, and that placement keeps them with their host.</summary>
public sealed class GrainKeyTests
{
    [Fact]
    public void Keys_have_the_documented_string_forms()
    {
        Assert.Equal("web-3/2", new CpuKey("web-3", 2).ToString());
        Assert.Equal("web-3/exec_trace/2", new ProgramKey("web-3", "exec_trace", 2).ToString());
        Assert.Equal("web-3/tasks", new SeqFileKey("web-3", "tasks").ToString());
        Assert.Equal("run-1:web-3", new ScenarioHostKey("run-1", "web-3").ToString());
    }

    [Fact]
    public void Keys_parse_back_to_the_same_key()
    {
        Assert.Equal(new CpuKey("web-3", 17), CpuKey.Parse("web-3/17"));
        Assert.Equal(new ProgramKey("web-3", "exec_trace", 2), ProgramKey.Parse("web-3/exec_trace/2"));
        Assert.Equal(new CpuKey("web-3", 2), ProgramKey.Parse("web-3/exec_trace/2").CpuKey);
        Assert.Equal(new SeqFileKey("web-3", "tasks"), SeqFileKey.Parse("web-3/tasks"));
    }

    [Theory]
    [InlineData("web-3")]
    [InlineData("web-3/")]
    [InlineData("web-3/x")]
    [InlineData("/2")]
    public void A_key_that_is_not_a_cpu_key_is_refused(string key) =>
        Assert.Throws<FormatException>(() => CpuKey.Parse(key));

    [Fact]
    public void A_program_key_needs_host_program_and_cpu() =>
        Assert.Throws<FormatException>(() => ProgramKey.Parse("web-3/2"));

    [Fact]
    public void Every_key_of_one_host_is_placed_by_that_host()
    {
        foreach (string key in new[] { new CpuKey("h", 1).ToString(), new ProgramKey("h", "p", 1).ToString(), new SeqFileKey("h", "s").ToString() })
            Assert.Equal("h", SimHostPlacementDirector.HostKey(key).ToString());
        Assert.Equal("r:h", SimHostPlacementDirector.HostKey(new ScenarioHostKey("r", "h").ToString()).ToString());
    }
}
