using System.Reflection;

namespace BpfTraceSim.Cluster.Tests.Infra;

/// <summary>Where the built silo and CLI are: beside this assembly in the same artifacts tree (bin/&lt;Project&gt;/&lt;config&gt;/).</summary>
internal static class TestPaths
{
    public static string RepoRoot { get; } = typeof(TestPaths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "RepoRoot").Value!;

    public static string SiloDll => Sibling("Silo", "bpfsim-silo.dll");
    public static string ClientDll => Sibling("Client", "bpfsim.dll");

    private static string Sibling(string project, string file)
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string path = Path.Combine(here.Parent!.Parent!.FullName, project, here.Name, file);
        if (!File.Exists(path)) throw new FileNotFoundException($"{file} is not built beside the tests (looked for {path})");
        return path;
    }
}
