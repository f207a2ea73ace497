using BpfTraceSim.Contracts.Scenarios;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace BpfTraceSim.Contracts.Tests.Scenarios;

public class DigestTests
{
    private static string Digest(string yaml) => ScenarioDigest.Compute(ScenarioParser.Parse(yaml, "d.yaml"));

    [Fact]
    public void Same_model_in_other_words_has_the_same_digest()
    {
        string a = ErrorTests.BaseText;
        string b = a.Replace("duration: 1s", "duration: 1000ms  # the same second", StringComparison.Ordinal)
            .Replace("rate: 100/s", "rate: 6000/m", StringComparison.Ordinal)
            .Replace("  out: { ring_pages: 1 }", "  out:\n    ring_pages: 1\n    type: software\n    config: bpf_output", StringComparison.Ordinal)
            .Replace("size: 8 }", "size: 8, flags: \"BPF_F_CURRENT_CPU\" }", StringComparison.Ordinal);
        Assert.NotEqual(a, b);
        Assert.Equal(Digest(a), Digest(b));
        Assert.Matches("^[0-9a-f]{64}$", Digest(a));
    }

    [Fact]
    public void Any_changed_value_changes_the_digest()
    {
        string a = ErrorTests.BaseText;
        var digests = new HashSet<string>
        {
            Digest(a),
            Digest(ScenarioPaths.Set(a, "events.out.ring_pages", "2")),
            Digest(ScenarioPaths.Set(a, "seed", "1")),
            Digest(ScenarioPaths.Set(a, "programs.p.fire.rate", "101/s")),
            Digest(ScenarioPaths.Set(a, "fleet[0].hosts", "3")),
            Digest(ScenarioPaths.Set(a, "slots.events", "swapped")),
        };
        Assert.Equal(6, digests.Count);
    }

    [Fact]
    public void Canonical_form_has_resolved_units()
    {
        string json = ScenarioDigest.CanonicalJson(ScenarioParser.Parse(ErrorTests.BaseText, "d.yaml"));
        Assert.Contains("\"duration_ns\":1000000000", json);
        Assert.Contains("\"fire\":{\"process\":\"poisson\",\"rate_per_sec\":100}", json);
    }

    [Fact]
    public void The_model_round_trips_through_the_orleans_serializer()
    {
        var original = ScenarioParser.Parse(ExampleTests.SpecExample, "spec.yaml");
        using var services = new ServiceCollection().AddSerializer().BuildServiceProvider();
        var serializer = services.GetRequiredService<Serializer>();
        var copy = serializer.Deserialize<Scenario>(serializer.SerializeToArray(original));
        Assert.NotSame(original, copy);
        Assert.NotNull(copy);
        Assert.Equal(ScenarioDigest.CanonicalJson(original), ScenarioDigest.CanonicalJson(copy));
    }
}
