using System.Collections.Immutable;
using System.Text.Json;
using BpfTraceSim.Contracts.Grains;

namespace BpfTraceSim.Client.Sweeps;

/// <summary>
/// Finished runs of a sweep, one file per run in DIR/points/, named by the ScenarioDigest of the
/// concrete scenario (its seed included), so a rerun of the same sweep, a longer list of values or
/// more seeds only runs what is missing. Files are written to a temporary name and renamed, so an
/// interrupted sweep leaves only whole entries; an unreadable entry is run again.
/// </summary>
public sealed class PointCache(string dir)
{
    public const string Format = "bpfsim-sweep-point-v1";

    public string Directory { get; } = Path.Combine(dir, "points");

    private string PathOf(string digest) => Path.Combine(Directory, digest + ".json");

    public bool TryGet(string digest, ulong seed, out ScenarioCounters totals)
    {
        totals = ScenarioCounters.Zero;
        string path = PathOf(digest);
        if (!File.Exists(path)) return false;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            if (root.GetProperty("format").GetString() != Format || root.GetProperty("digest").GetString() != digest ||
                root.GetProperty("seed").GetUInt64() != seed)
                return false;
            totals = Read(root.GetProperty("totals"));
            return true;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or IOException)
        {
            return false;
        }
    }

    public void Put(string digest, ulong seed, ScenarioCounters t)
    {
        System.IO.Directory.CreateDirectory(Directory);
        string path = PathOf(digest);
        string tmp = Path.Combine(Directory, $".{digest}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false }))
        {
            w.WriteStartObject();
            w.WriteString("format", Format);
            w.WriteString("digest", digest);
            w.WriteNumber("seed", seed);
            w.WriteStartObject("totals");
            w.WriteNumber("firings", t.Firings);
            w.WriteStartArray("helpers");
            foreach (var h in t.Helpers)
            {
                w.WriteStartArray();
                w.WriteStringValue(h.Helper);
                w.WriteNumberValue(h.Return);
                w.WriteNumberValue(h.Count);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteNumber("records_written", t.RecordsWritten);
            w.WriteNumber("bytes_written", t.BytesWritten);
            w.WriteNumber("records_consumed", t.RecordsConsumed);
            w.WriteNumber("records_in_ring_at_end", t.RecordsInRingAtEnd);
            w.WriteNumber("lost", t.Lost);
            w.WriteNumber("ring_high_water_bytes", t.RingHighWaterBytes);
            w.WriteNumber("consumer_lag_p99_ns", t.ConsumerLagP99Ns);
            w.WriteNumber("wakeups", t.Wakeups);
            w.WriteNumber("lost_reported", t.LostReported);
            w.WriteNumber("records_overwritten", t.RecordsOverwritten);
            w.WriteNumber("records_invisible", t.RecordsInvisible);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        try
        {
            File.WriteAllBytes(tmp, buffer.ToArray());
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    private static ScenarioCounters Read(JsonElement t)
    {
        var helpers = ImmutableArray.CreateBuilder<HelperReturnCount>();
        foreach (var h in t.GetProperty("helpers").EnumerateArray())
            helpers.Add(new HelperReturnCount(h[0].GetString()!, h[1].GetInt64(), h[2].GetInt64()));
        return new ScenarioCounters
        {
            Firings = t.GetProperty("firings").GetInt64(),
            Helpers = helpers.ToImmutable(),
            RecordsWritten = t.GetProperty("records_written").GetInt64(),
            BytesWritten = t.GetProperty("bytes_written").GetInt64(),
            RecordsConsumed = t.GetProperty("records_consumed").GetInt64(),
            RecordsInRingAtEnd = t.GetProperty("records_in_ring_at_end").GetInt64(),
            Lost = t.GetProperty("lost").GetInt64(),
            RingHighWaterBytes = t.GetProperty("ring_high_water_bytes").GetInt64(),
            ConsumerLagP99Ns = t.GetProperty("consumer_lag_p99_ns").GetInt64(),
            Wakeups = t.GetProperty("wakeups").GetInt64(),
            LostReported = t.GetProperty("lost_reported").GetInt64(),
            RecordsOverwritten = t.GetProperty("records_overwritten").GetInt64(),
            RecordsInvisible = t.GetProperty("records_invisible").GetInt64(),
        };
    }

}
