using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using k8s;

namespace BpfTraceSim.K8s.Tests;

/// <summary>Renders k8s/ with `kubectl kustomize` (what `kubectl apply -k` sends) and parses it into typed V1 models.</summary>
internal static class Kustomize
{
    public static string RepoRoot { get; } = typeof(Kustomize).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "RepoRoot").Value!;

    private static readonly ConcurrentDictionary<string, Lazy<string>> Rendered = new();

    /// <summary>path: relative to k8s/, e.g. "overlays/dev".</summary>
    public static string Render(string path) => Rendered.GetOrAdd(path, p => new Lazy<string>(() => Run(p))).Value;

    /// <summary>Every document as its typed model; strict: an unknown field (a typo) is an error.</summary>
    public static List<object> Parse(string yaml) => KubernetesYaml.LoadAllFromString(yaml, strict: true);

    private static string Run(string path)
    {
        string dir = Path.Combine(RepoRoot, "k8s", path);
        var psi = new ProcessStartInfo("kubectl") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("kustomize");
        psi.ArgumentList.Add(dir);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("kubectl is not installed (.ci/run installs it; see docs/kubernetes.md)", ex);
        }
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            string stderr = p.StandardError.ReadToEnd();
            if (!p.WaitForExit(60_000)) { p.Kill(); throw new TimeoutException($"kubectl kustomize {dir}"); }
            if (p.ExitCode != 0) throw new InvalidOperationException($"kubectl kustomize {dir} failed ({p.ExitCode}): {stderr}");
            return stdout.Result;
        }
    }

    /// <summary>The rendered stream with the one document of kind/name passed through edit (a mutation test's scalpel).</summary>
    public static string Mutate(string yaml, string kind, string name, Func<string, string> edit)
    {
        var docs = yaml.Split("\n---\n");
        int hits = 0;
        for (int i = 0; i < docs.Length; i++)
        {
            bool isKind = docs[i].Contains($"\nkind: {kind}\n") || docs[i].StartsWith($"kind: {kind}\n", StringComparison.Ordinal);
            if (!isKind || !docs[i].Contains($"\n  name: {name}\n")) continue;
            string edited = edit(docs[i]);
            if (edited == docs[i]) throw new InvalidOperationException($"the edit changed nothing in {kind} {name}");
            docs[i] = edited;
            hits++;
        }
        if (hits != 1) throw new InvalidOperationException($"{hits} documents are {kind} {name}");
        return string.Join("\n---\n", docs);
    }
}
