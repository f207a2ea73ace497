using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace BpfTraceSim.Cluster.Tests.Infra;

/// <summary>A process the tests started: output kept for failure messages, killed on dispose.</summary>
internal sealed partial class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ChildProcess(Process process) => _process = process;

    public string Name { get; private init; } = "";
    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    public static ChildProcess Start(string name, string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        // Nothing of the test host's own cluster settings leaks into a child.
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("BpfSim__", StringComparison.OrdinalIgnoreCase)).ToList())
            psi.Environment.Remove(key);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        var p = new Process { StartInfo = psi };
        var child = new ChildProcess(p) { Name = name };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (child._output) child._output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (child._output) child._output.AppendLine(e.Data); };
        p.Start();
        p.StandardInput.Close();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return child;
    }

    /// <summary>SIGTERM (what Kubernetes sends first); true if it exited within timeout.</summary>
    public async Task<bool> TerminateAsync(TimeSpan timeout)
    {
        if (_process.HasExited) return true;
        _ = Kill(_process.Id, 15);
        using var cts = new CancellationTokenSource(timeout);
        try { await _process.WaitForExitAsync(cts.Token); return true; }
        catch (OperationCanceledException) { return false; }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
