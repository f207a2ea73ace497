namespace BpfTraceSim.Cluster.Tests;

/// <summary>The exec world the cluster tests send, and the exact line `bpfsim exec` must print for it.</summary>
internal static class ExecDocuments
{
    /// <summary>scenarios/exec/swapped-slots.json on one line, under another id.</summary>
    public static string SwappedSlots(string id) =>
        "{\"id\":\"" + id + "\",\"cpus\":2,\"tasks\":[{\"pid\":100,\"comm\":\"app\",\"cpu\":0}]," +
        "\"maps\":{\"events\":{\"type\":\"perf_event_array\",\"max_entries\":2}}," +
        "\"events\":{\"out0\":{\"type\":\"software\",\"config\":\"bpf_output\",\"cpu\":0,\"ring_pages\":1,\"sample_type\":[\"raw\"]}," +
        "\"out1\":{\"type\":\"software\",\"config\":\"bpf_output\",\"cpu\":1,\"ring_pages\":1,\"sample_type\":[\"raw\"]}}," +
        "\"slots\":{\"events\":[\"out1\",\"out0\"]}," +
        "\"steps\":[{\"cpu\":0,\"pid\":100,\"call\":\"perf_event_output\",\"map\":\"events\",\"flags\":\"BPF_F_CURRENT_CPU\",\"data_hex\":\"0102030405060708\"}," +
        "{\"cpu\":0,\"pid\":100,\"call\":\"perf_event_output\",\"map\":\"events\",\"flags\":1,\"data_hex\":\"0102030405060708\"}," +
        "{\"call\":\"consume\",\"event\":\"out0\"},{\"call\":\"consume\",\"event\":\"out1\"}]}";

    /// <summary>
    /// What the kernel gives (docs/kernel-semantics.md §10): slot 0 holds CPU 1's event, so BPF_F_CURRENT_CPU on CPU 0
    /// is -EOPNOTSUPP (95); index 1 holds CPU 0's event: 0, and CPU 0's ring gets one PERF_RECORD_SAMPLE (type 9,
    /// misc 1) of 24 bytes: 8 header, u32 raw size 12, 8 data bytes, 4 zero bytes of padding. CPU 1's ring stays empty.
    /// </summary>
    public static string SwappedSlotsOutput(string id) =>
        "{\"id\":\"" + id + "\",\"results\":[{\"step\":0,\"ret\":-95},{\"step\":1,\"ret\":0}," +
        "{\"step\":2,\"records\":[{\"type\":\"sample\",\"size\":24,\"raw_hex\":\"010203040506070800000000\"," +
        "\"record_hex\":\"09000000010018000c000000010203040506070800000000\"}],\"data_head\":24,\"lost_total\":0}," +
        "{\"step\":3,\"records\":[],\"data_head\":0,\"lost_total\":0}]}";

    /// <summary>n worlds as JSON Lines in a temp file; returns its path and the exact expected stdout.</summary>
    public static (string Path, string Expected) WriteWorlds(int n, string prefix)
    {
        var ids = Enumerable.Range(0, n).Select(i => $"{prefix}-{i}").ToArray();
        string path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"bpfsim-{prefix}-{Guid.NewGuid():N}.jsonl");
        File.WriteAllText(path, string.Join("\n", ids.Select(SwappedSlots)) + "\n");
        return (path, string.Concat(ids.Select(id => SwappedSlotsOutput(id) + "\n")));
    }
}
