using System.Text;
using BpfTraceSim.Client.Exec;
using BpfTraceSim.Client.Iter;

namespace BpfTraceSim.Client.Tests;

/// <summary>`bpfsim iter`: iterator programs over a simulated host's tasks and maps.</summary>
[Collection(SiloCollection.Name)]
public sealed class IterTests(EmbeddedSiloFixture silo)
{
    private async Task<(string Text, long[] Reads)> Iter(string doc)
    {
        var results = await silo.Results(Encoding.UTF8.GetString(IterDocument.ToExec(Encoding.UTF8.GetBytes(doc))));
        var read = results[^1];
        return (read.GetProperty("text").GetString()!, [.. read.GetProperty("reads").EnumerateArray().Select(r => r.GetInt64())]);
    }

    [Fact]
    public async Task Tasks_print_one_line_each_as_cat_reads_them()
    {
        var (text, reads) = await Iter(File.ReadAllText(Path.Combine(Repo.Root, "scenarios/iter/tasks.json")));
        Assert.Equal("1      1        0 systemd\n812    812      1 sshd\n4242   4242     1 agent\n", text);
        Assert.Equal([text.Length, 0], reads);
    }

    [Fact]
    public async Task Maps_are_iterable_objects_too()
    {
        var (text, _) = await Iter("""
            { "cpus": 4, "maps": { "events": {}, "small": { "max_entries": 1 } },
              "iter": { "target": "bpf_map", "body": [ { "call": "seq_printf", "fmt": "%u %s %u\n", "args": [ { "field": "id" }, { "field": "name" }, { "field": "max_entries" } ] } ] } }
            """);
        Assert.Equal("1 events 4\n2 small 1\n", text);
    }

    [Fact]
    public async Task An_object_that_overflows_alone_fails_the_read_with_e2big_after_the_objects_before_it()
    {
        string big = new('x', 20000);
        var (text, reads) = await Iter($$"""
            { "tasks": [ { "pid": 1, "comm": "a" }, { "pid": 2, "comm": "b" } ],
              "iter": { "target": "task", "read_size": 65536, "body": [
                { "call": "seq_printf", "fmt": "%d\n", "args": [ { "field": "pid" } ] },
                { "call": "seq_write", "data_hex": "{{Convert.ToHexString(Encoding.ASCII.GetBytes(big))}}" },
                { "call": "seq_write", "data_hex": "{{Convert.ToHexString(Encoding.ASCII.GetBytes(big))}}" } ] } }
            """);
        // The first object alone needs 40002 bytes > 32768 and is the first of its read(): E2BIG.
        Assert.Equal([-7], reads);
        Assert.Equal("", text);
    }

    [Fact]
    public void A_bad_iter_section_names_the_field_and_line()
    {
        var ex = Assert.Throws<DocumentException>(() => IterDocument.ToExec(Encoding.UTF8.GetBytes("""
            { "tasks": [],
              "iter": { "target": "task", "body": [ { "call": "seq_printf", "fmt": "%d", "args": [ { "field": "pdi" } ] } ] } }
            """)));
        Assert.Equal(2, ex.Line);
        Assert.Equal("iter.body[0].args[0].field", ex.Field);
        Assert.Contains("unknown object field \"pdi\"", ex.Message);
    }
}
