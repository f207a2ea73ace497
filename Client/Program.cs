using System.CommandLine;
using BpfTraceSim.Client.Commands;

namespace BpfTraceSim.Client;

public static class Program
{
    public static readonly Option<string?> ClusterOption = new("--cluster")
    {
        Description = "A running cluster: its gateways (host:port[,host:port]) or its Redis membership (redis://host:port). Without it, an embedded silo runs in this process.",
        Recursive = true,
    };

    public static async Task<int> Main(string[] args)
    {
        var root = new RootCommand(
            "bpfsim: a simulator of the Linux kernel's BPF tracing helpers (perf_event_output/read, trace_printk, seq_printf) " +
            "on simulated CPUs that are Orleans grains.");
        root.Options.Add(ClusterOption);
        root.Subcommands.Add(ExecCommand.Create());
        root.Subcommands.Add(RunCommand.Create());
        root.Subcommands.Add(ReportCommand.Create());
        root.Subcommands.Add(IterCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(LoadCommand.Create());
        root.Subcommands.Add(TracePipeCommand.Create());
        root.Subcommands.Add(SweepCommand.Create());
        try
        {
            return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception ex) when (ex is TimeoutException || (ex is ArgumentException a && a.Message.StartsWith("--cluster", StringComparison.Ordinal)))
        {
            // A cluster that cannot be reached is the user's setup, not our bug: one line, no stack.
            Console.Error.WriteLine($"bpfsim: {ex.Message}");
            return 1;
        }
    }
}
