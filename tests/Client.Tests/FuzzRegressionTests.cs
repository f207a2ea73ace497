using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Client.Exec;

namespace BpfTraceSim.Client.Tests;

/// <summary>
/// Inputs the fuzzer (tests/Fuzz) once crashed or stalled on, kept in tests/Fuzz/regressions:
/// each must now be refused the documented way (a BpfLoadException, a DocumentException with a line).
/// </summary>
public sealed class FuzzRegressionTests
{
    public static TheoryData<string> Files(string prefix)
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Path.Combine(Repo.Root, "tests", "Fuzz", "regressions"), prefix + "-*").Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(f));
        return data;
    }

    private static byte[] Read(string name) => File.ReadAllBytes(Path.Combine(Repo.Root, "tests", "Fuzz", "regressions", name));

    [Theory]
    [MemberData(nameof(Files), "elf")]
    public void Elf_input_is_refused_by_the_loader(string name)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.Throws<BpfLoadException>(() => BpfObject.Load(Read(name), "fuzz.o"));
        Assert.StartsWith("fuzz.o: ", e.Message);
        Assert.True(started.ElapsedMilliseconds < 500, $"{name} took {started.ElapsedMilliseconds} ms");
    }

    [Theory]
    [MemberData(nameof(Files), "exec")]
    public void Exec_input_is_refused_with_a_line(string name)
    {
        var ex = Record.Exception(() =>
        {
            foreach (var entry in JsonTree.ReadAll(Read(name)))
                if (entry.SyntaxError is null) ExecParser.Parse(entry.Value!, Path.GetTempPath());
        });
        var doc = Assert.IsType<DocumentException>(ex);
        Assert.True(doc.Line >= 1);
    }
}
