using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Contracts.Grains;

namespace BpfTraceSim.Client.Exec;

/// <summary>
/// Runs exec documents: each world is booted as a host grain, each helper step is a call from the
/// program grain on the step's CPU into that CPU's grain, host-wide steps go to the host grain.
/// </summary>
internal sealed class ExecRunner(Func<Task<IGrainFactory>> connect)
{
    /// <summary>Worlds one document may hold (CostLimits.MaxWorlds unless --max-worlds says otherwise).</summary>
    public long MaxWorlds { get; init; } = BpfTraceSim.Kernel.CostLimits.Default.MaxWorlds;

    private IGrainFactory? _grains;

    /// <summary>Runs every world of a document text; writes one output line per world. Returns the exit code.</summary>
    public async Task<int> RunAsync(byte[] text, string? baseDir, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        int exit = 0;
        var entries = JsonTree.ReadAll(text);
        if (entries.Count == 0)
        {
            stdout.WriteLine(ExecOutput.Error(null, 1, "", "the document is empty: expected a JSON object"));
            stderr.WriteLine("bpfsim exec: line 1: the document is empty: expected a JSON object");
            return 2;
        }
        if (entries.Count > MaxWorlds)
        {
            string msg = $"the document holds {entries.Count:N0} worlds, more than the limit of {MaxWorlds:N0}; split it, or raise --max-worlds to run it on purpose";
            stdout.WriteLine(ExecOutput.Error(null, entries[(int)MaxWorlds].Line, "", msg));
            stderr.WriteLine($"bpfsim exec: line {entries[(int)MaxWorlds].Line}: {msg}");
            return 2;
        }
        // Validate every world first: an invalid one runs none of its steps, and when none is
        // valid no silo is started at all.
        var parsed = new List<(string? Id, ExecWorld? World, DocumentException? Error)>();
        foreach (var entry in entries)
        {
            string? id = ExecParser.IdOf(entry.Value);
            try
            {
                if (entry.SyntaxError is not null) throw new DocumentException(entry.Line, "", entry.SyntaxError);
                parsed.Add((id, ExecParser.Parse(entry.Value!, baseDir), null));
            }
            catch (DocumentException ex)
            {
                parsed.Add((id, null, ex));
            }
        }
        for (int i = 0; i < parsed.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            var (id, world, error) = parsed[i];
            if (error is not null)
            {
                exit = 2;
                stdout.WriteLine(ExecOutput.Error(id, error.Line, error.Field, error.Message));
                stderr.WriteLine($"bpfsim exec: world {id ?? "#" + (i + 1)}, line {error.Line}: {error.FieldAndMessage}");
                continue;
            }
            _grains ??= await connect();
            var results = await RunWorldAsync(world!, i + 1);
            stdout.WriteLine(ExecOutput.World(id, results));
        }
        return exit;
    }

    private async Task<List<StepResult>> RunWorldAsync(ExecWorld world, int ordinal)
    {
        // Each world is its own simulated host; the key never repeats within a cluster's life.
        string hostId = $"exec-{Guid.NewGuid():N}-{ordinal}";
        var host = _grains!.GetGrain<IHostGrain>(hostId);
        await host.Boot(world.Spec);
        var results = new List<StepResult>(world.Steps.Length);
        // Steps whose return is known only once user space reads their seq_file.
        var deferred = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        try
        {
            foreach (var step in world.Steps)
            {
                var kind = StepKinds.Of(step.Call);
                if (kind.Server == StepServer.Seq)
                {
                    var r = await Seq(hostId, step.Seq!).Apply(world.Spec, step);
                    // A seq helper's return is known once user space reads the seq_file.
                    if (r.Ret is null && r.VerifierError is null && kind.IsHelper)
                    {
                        if (!deferred.TryGetValue(step.Seq!, out var list)) deferred[step.Seq!] = list = new List<int>();
                        list.Add(results.Count);
                    }
                    results.Add(r);
                    continue;
                }
                results.Add(await (kind.Server == StepServer.Host
                    ? host.Apply(step)
                    : _grains!.GetProgramGrain(new ProgramKey(hostId, step.Program ?? "exec", step.Cpu)).Invoke(step)));
            }
            foreach (var (seq, positions) in deferred)
            {
                var rets = await Seq(hostId, seq).Finish();
                for (int i = 0; i < positions.Count; i++)
                    results[positions[i]] = results[positions[i]] with { Ret = rets[i] };
            }
        }
        finally
        {
            await host.Shutdown();
        }
        return results;
    }

    private ISeqFileGrain Seq(string hostId, string seq) => _grains!.GetSeqFileGrain(new SeqFileKey(hostId, seq));
}
