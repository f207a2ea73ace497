using System.CommandLine;
using BpfTraceSim.Client.Cluster;
using BpfTraceSim.Client.Exec;

namespace BpfTraceSim.Client.Commands;

/// <summary>`bpfsim exec FILE|-`: exec documents (docs/exec.md).</summary>
internal static class ExecCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "An exec document (JSON, or JSON Lines with one world per line); - reads standard input." };
        var maxWorlds = new Option<long>("--max-worlds")
        {
            Description = "Refuse a document of more worlds than this (default 100,000; docs/limits.md).",
            DefaultValueFactory = _ => BpfTraceSim.Kernel.CostLimits.Default.MaxWorlds,
            HelpName = "N",
        };
        var cmd = new Command("exec",
            "Build a world (CPUs, tasks, perf events, maps) and run helper calls on it, printing exactly what the kernel returns, " +
            "as JSON Lines (see docs/exec.md). Exit code 2 if any world is invalid.")
        {
            file, maxWorlds,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            string path = parse.GetValue(file)!;
            byte[] text;
            string? baseDir;
            if (path == "-")
            {
                text = await InputFile.ReadStdinAsync(ct);
                baseDir = Directory.GetCurrentDirectory();
            }
            else
            {
                text = await InputFile.ReadAsync(path, ct);
                baseDir = Path.GetDirectoryName(Path.GetFullPath(path));
            }
            ClusterConnection? cluster = null;
            try
            {
                var runner = new ExecRunner(async () =>
                {
                    cluster = await ClusterConnection.ConnectAsync(parse.GetValue(Program.ClusterOption), ct);
                    return cluster.Grains;
                })
                { MaxWorlds = Math.Max(1, parse.GetValue(maxWorlds)) };
                var stdout = Console.Out;
                int exit = await runner.RunAsync(text, baseDir, stdout, Console.Error, ct);
                await stdout.FlushAsync(ct);
                return exit;
            }
            finally
            {
                if (cluster is not null) await cluster.DisposeAsync();
            }
        });
        return cmd;
    }
}
