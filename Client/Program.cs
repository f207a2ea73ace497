using System.CommandLine;
using System.Runtime.InteropServices;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Client.Commands;
using BpfTraceSim.Client.Exec;
using BpfTraceSim.Contracts.Scenarios;

namespace BpfTraceSim.Client;

public static class Program
{
    public static readonly Option<string?> ClusterOption = new("--cluster")
    {
        Description = "A running cluster: its gateways (host:port[,host:port]) or its Redis membership (redis://host:port). Without it, an embedded silo runs in this process.",
        Recursive = true,
    };

    public static readonly Option<bool> VerboseOption = new("--verbose")
    {
        Description = "On an internal error (a bug of bpfsim's, exit 1), print the stack trace too.",
        Recursive = true,
    };

    /// <summary>Exit code of input the user can fix (a document, an object file, an argument): docs/limits.md.</summary>
    public const int ExitBadInput = 2;
    /// <summary>Exit code of a failed run or of a bug of ours.</summary>
    public const int ExitFailed = 1;
    public const int ExitInterrupted = 130;

    public static async Task<int> Main(string[] args)
    {
        var root = new RootCommand(
            "bpfsim: a simulator of the Linux kernel's BPF tracing helpers (perf_event_output/read, trace_printk, seq_printf) " +
            "on simulated CPUs that are Orleans grains. Exit codes: 0 done; 1 the run failed, or an internal error; " +
            "2 refused input (FILE:LINE:COLUMN: FIELD: MESSAGE on stderr, nothing written); 130 interrupted.");
        root.Options.Add(ClusterOption);
        root.Options.Add(VerboseOption);
        root.Subcommands.Add(ExecCommand.Create());
        root.Subcommands.Add(RunCommand.Create());
        root.Subcommands.Add(ReportCommand.Create());
        root.Subcommands.Add(IterCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(LoadCommand.Create());
        root.Subcommands.Add(TracePipeCommand.Create());
        root.Subcommands.Add(SweepCommand.Create());
        return await RunAsync(root, args, Console.Error);
    }

    /// <summary>
    /// The one error path of every command: a refused argument or document is one line and exit 2,
    /// a bug of ours is one line, a pointer to --verbose and exit 1; never a stack trace by default.
    /// </summary>
    internal static async Task<int> RunAsync(RootCommand root, string[] args, TextWriter stderr)
    {
        var parse = root.Parse(args);
        bool verbose = parse.Errors.Count == 0 && parse.GetValue(VerboseOption);
        if (parse.Errors.Count > 0)
        {
            string cmd = parse.CommandResult.Command is { } c && c != root ? "bpfsim " + c.Name : "bpfsim";
            foreach (var e in parse.Errors)
                stderr.WriteLine($"{cmd}: {e.Message}");
            stderr.WriteLine($"{cmd}: see '{cmd} --help'");
            return ExitBadInput;
        }
        // SIGINT and SIGTERM cancel the command, which stops its run, writes nothing half-done and
        // exits 130; a second signal ends the process at once (the default action).
        using var interrupt = new CancellationTokenSource();
        void OnSignal(PosixSignalContext ctx)
        {
            ctx.Cancel = !interrupt.IsCancellationRequested;
            interrupt.Cancel();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        try
        {
            var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null };
            return await parse.InvokeAsync(config, interrupt.Token);
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine("bpfsim: interrupted");
            return ExitInterrupted;
        }
        catch (Exception ex) when (ex is TimeoutException || (ex is ArgumentException a && a.Message.StartsWith("--cluster", StringComparison.Ordinal)))
        {
            // A cluster that cannot be reached is the user's setup, not our bug: one line, no stack.
            stderr.WriteLine($"bpfsim: {ex.Message}");
            return ExitFailed;
        }
        catch (ScenarioException ex)
        {
            stderr.WriteLine($"bpfsim: {ex.Error}");
            return ScenarioException.ExitCode;
        }
        catch (InputException ex)
        {
            string cmd = parse.CommandResult.Command is { } c && c != root ? "bpfsim " + c.Name : "bpfsim";
            stderr.WriteLine($"{cmd}: {ex.Message}");
            return ExitBadInput;
        }
        catch (BpfLoadException ex)
        {
            stderr.WriteLine($"bpfsim: {ex.Message}");
            return ExitBadInput;
        }
        catch (DocumentException ex)
        {
            stderr.WriteLine($"bpfsim: line {ex.Line}: {ex.FieldAndMessage}");
            return ExitBadInput;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"bpfsim: {ex.Message}");
            return ExitBadInput;
        }
        catch (Exception ex)
        {
            var inner = ex is AggregateException { InnerExceptions.Count: 1 } ag ? ag.InnerExceptions[0] : ex;
            stderr.WriteLine($"bpfsim: internal error: {inner.GetType().Name}: {FirstLine(inner.Message)}" +
                (verbose ? "" : " (a bug of bpfsim; run again with --verbose for the stack trace)"));
            if (verbose) stderr.WriteLine(inner.ToString());
            return ExitFailed;
        }
    }

    private static string FirstLine(string s)
    {
        int i = s.IndexOfAny(['\r', '\n']);
        return i < 0 ? s : s[..i];
    }
}
