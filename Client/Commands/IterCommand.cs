using System.CommandLine;
using System.Text;
using System.Text.Json;
using BpfTraceSim.Client.Cluster;
using BpfTraceSim.Client.Exec;
using BpfTraceSim.Client.Iter;
using BpfTraceSim.Kernel;

namespace BpfTraceSim.Client.Commands;

/// <summary>`bpfsim iter FILE`: run an iterator program over a simulated host and print what `cat` would.</summary>
internal static class IterCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "An iter document (docs/iter.md): a world plus \"iter\": { target, body or program, read_size }." };
        var cmd = new Command("iter",
            "Run a bpf_iter program over the tasks or maps of a simulated host and print the seq_file as `cat` on the pinned " +
            "iterator would: objects that overflow the seq buffer are re-run by the next read(), one that overflows alone fails " +
            "the read with E2BIG (exit 1).")
        {
            file,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            string path = parse.GetValue(file)!;
            byte[] execDoc, text;
            try
            {
                text = await InputFile.ReadAsync(path, ct);
                execDoc = IterDocument.ToExec(text);
            }
            catch (DocumentException ex)
            {
                Console.Error.WriteLine(Where(path, ex));
                return 2;
            }
            ClusterConnection? cluster = null;
            async Task<IGrainFactory> Connect() => (cluster = await ClusterConnection.ConnectAsync(parse.GetValue(Program.ClusterOption), ct)).Grains;
            try
            {
                if (IterDocument.HasProgram(text)) return await RunProgram(path, text, execDoc, Connect, ct);
                var runner = new ExecRunner(Connect);
                var output = new StringWriter();
                var errors = new StringWriter();
                int exit = await runner.RunAsync(execDoc, Path.GetDirectoryName(Path.GetFullPath(path)), output, errors, ct);
                if (exit != 0)
                {
                    Console.Error.Write(errors.ToString().Replace("bpfsim exec: world iter", $"bpfsim iter: {path}", StringComparison.Ordinal));
                    return exit;
                }
                return Print(JsonDocument.Parse(output.ToString()).RootElement, path);
            }
            finally
            {
                if (cluster is not null) await cluster.DisposeAsync();
            }
        });
        return cmd;
    }

    /// <summary>
    /// An iter.program document: the object is checked by the exec parser (as an exec world's
    /// programs.iter, its errors named under iter.program), then read by the world's read_iter step
    /// on the cluster.
    /// </summary>
    private static async Task<int> RunProgram(string path, byte[] original, byte[] execDoc, Func<Task<IGrainFactory>> connect, CancellationToken ct)
    {
        int line = IterDocument.ProgramLine(original);
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        try
        {
            IterDocument.CheckProgram(original, execDoc, dir);
        }
        catch (DocumentException ex)
        {
            Console.Error.WriteLine(Where(path, ex));
            return 2;
        }
        var outcome = await IterProgramRun.RunAsync(connect, execDoc, dir, ct);
        if (outcome.LoadError is { } why)
        {
            Console.Error.WriteLine($"bpfsim iter: {path}:{line}: iter.program: the kernel refuses the program: {why}");
            return 1;
        }
        int exit = Print(outcome.Read!.Text, outcome.Read.Reads, path);
        if (outcome.Fault is { } fault)
        {
            Console.Error.WriteLine($"bpfsim iter: {path}: the program faulted: {fault}");
            return 1;
        }
        return exit;
    }

    /// <summary>A document error as `file:line: field: message` (no field for a whole-document error).</summary>
    private static string Where(string path, DocumentException ex) =>
        $"bpfsim iter: {path}:{ex.Line}: {ex.FieldAndMessage}";

    /// <summary>Writes the bytes read to stdout; a failed read() is reported as cat reports it.</summary>
    private static int Print(JsonElement world, string path)
    {
        var results = world.GetProperty("results");
        var read = IterProgramRun.ReadOf(results[results.GetArrayLength() - 1]);
        return Print(read.Text, read.Reads, path);
    }

    private static int Print(byte[] text, IReadOnlyList<long> reads, string path)
    {
        using (var stdout = Console.OpenStandardOutput()) stdout.Write(text);
        foreach (long n in reads)
        {
            if (n >= 0) continue;
            string msg = -n switch
            {
                Errno.E2BIG => "Argument list too long",
                Errno.EAGAIN => "Resource temporarily unavailable",
                _ => $"error {-n}",
            };
            Console.Error.WriteLine($"cat: {path}: {msg}");
            return 1;
        }
        return 0;
    }
}
