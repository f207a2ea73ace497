using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace BpfTraceSim.Contracts.Scenarios;

/// <summary>
/// A canonical form of a parsed scenario and its SHA-256, for caching sweep points: two files
/// that parse to the same model (whatever their units, spelling of defaults, quoting, comments or
/// layout) have the same digest. Entry order is kept as written, so reordering entries changes it.
/// </summary>
public static class ScenarioDigest
{
    /// <summary>Bumped when the canonical form changes, so old cache entries stop matching.</summary>
    public const string FormatVersion = "bpfsim-scenario-v1";

    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = false,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>The normalised form: compact JSON of the model, units resolved (ns, per second, bytes).</summary>
    public static string CanonicalJson(Scenario scenario) => JsonSerializer.Serialize(scenario, Options);

    /// <summary>Lower-case hex SHA-256 of the version tag and the canonical JSON.</summary>
    public static string Compute(Scenario scenario)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(FormatVersion + "\n" + CanonicalJson(scenario));
        return Convert.ToHexStringLower(SHA256.HashData(bytes));
    }
}
