using System.CommandLine;
using BpfTraceSim.Client.Commands;

namespace BpfTraceSim.Client;

public static class Program
{
    public static readonly Option<string?> ClusterOption = new("--cluster")
    {
        Description = "Gateways of a running cluster (host:port[,host:port]). Without it, an embedded silo runs in this process.",
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
        return await root.Parse(args).InvokeAsync();
    }
}
