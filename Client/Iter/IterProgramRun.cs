using System.Text;
using System.Text.Json;
using BpfTraceSim.Client.Exec;
using BpfTraceSim.Kernel.Seq;

namespace BpfTraceSim.Client.Iter;

/// <summary>What reading a real iter/task program's seq_file gave: the reads, or why it could not run.</summary>
internal sealed record IterProgramOutcome(SeqReadResult? Read, string? LoadError, string? Fault);

/// <summary>
/// A clang-built SEC("iter/task") program read as `cat` reads its pinned link: the iter document's
/// exec form (one read_iter step) runs on the cluster like any exec world, so the program loads on
/// its host's objects and runs on a CPU grain (CpuKernel.ReadIter); this reads its one result back.
/// </summary>
internal static class IterProgramRun
{
    /// <param name="execDoc">IterDocument.ToExec of a document that IterDocument.CheckProgram accepted.</param>
    public static async Task<IterProgramOutcome> RunAsync(Func<Task<IGrainFactory>> connect, byte[] execDoc, string? baseDir, CancellationToken ct)
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        int exit = await new ExecRunner(connect).RunAsync(execDoc, baseDir, output, errors, ct);
        if (exit != 0) throw new InvalidOperationException($"the iter world the document was checked for failed in exec: {errors}");
        var results = JsonDocument.Parse(output.ToString()).RootElement.GetProperty("results");
        var read = results[results.GetArrayLength() - 1];
        if (read.TryGetProperty("verifier_error", out var ve)) return new IterProgramOutcome(null, ve.GetString(), null);
        string? fault = read.TryGetProperty("fault", out var f) ? $"insn {f.GetProperty("insn").GetInt64()}: {f.GetProperty("message").GetString()}" : null;
        return new IterProgramOutcome(ReadOf(read), null, fault);
    }

    /// <summary>A read_seq or read_iter step's exec result: what each read() returned and the bytes read.</summary>
    public static SeqReadResult ReadOf(JsonElement result)
    {
        byte[] text = result.TryGetProperty("text_hex", out var hex) ? Convert.FromHexString(hex.GetString()!) : Encoding.UTF8.GetBytes(result.GetProperty("text").GetString()!);
        var reads = new List<long>();
        foreach (var r in result.GetProperty("reads").EnumerateArray()) reads.Add(r.GetInt64());
        return new SeqReadResult(reads, text);
    }
}
