using System.CommandLine;
using System.Text.Json;
using BpfTraceSim.Client.Reports;
using BpfTraceSim.Client.Sweeps;

namespace BpfTraceSim.Client.Commands;

/// <summary>`bpfsim report FILE.json`: a report.json summed up in the terminal.</summary>
internal static class ReportCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("REPORT") { Description = "A report.json written by `bpfsim run`, or a sweep.json written by `bpfsim sweep`." };
        var top = new Option<int>("--top")
        {
            Description = "How many hosts to list under loss per host, and how many errors under top errors.",
            DefaultValueFactory = _ => 10,
            HelpName = "N",
        };
        var cmd = new Command("report",
            "Print a summary of a report.json: totals, the helpers' return values, the top errors, conservation and loss per host; " +
            "or of a sweep.json: one line per point (its seeds summed up) and the sweep's answer. " +
            "Exit code 2 if the file cannot be read or is not a report.")
        {
            file, top,
        };
        cmd.SetAction((parse, ct) =>
        {
            string path = parse.GetValue(file)!;
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            try
            {
                using var doc = JsonDocument.Parse(InputFile.Read(path));
                stdout.Write(SweepJson.IsSweep(doc.RootElement)
                    ? SweepTable.Render(SweepJson.Load(doc.RootElement))
                    : ReportSummary.Render(doc.RootElement, Math.Max(1, parse.GetValue(top))));
                return Task.FromResult(0);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or ReportFormatException or InputException)
            {
                stderr.WriteLine($"bpfsim report: {path}: {e.Message}");
                return Task.FromResult(2);
            }
            catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException or IndexOutOfRangeException or OverflowException)
            {
                // Valid JSON of another shape: a field missing or of the wrong kind.
                stderr.WriteLine($"bpfsim report: {path}: not a report.json or sweep.json of bpfsim ({e.Message})");
                return Task.FromResult(2);
            }
        });
        return cmd;
    }
}
