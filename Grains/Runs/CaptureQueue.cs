using System.Collections.Immutable;
using BpfTraceSim.Contracts.Grains;

namespace BpfTraceSim.Grains.Runs;

/// <summary>
/// Captured trace_pipe lines and records not yet taken by the client, oldest first, and the back
/// pressure on the run: it waits while more than the run's limit of lines are pending.
/// </summary>
internal sealed class CaptureQueue
{
    private readonly Queue<string> _traceLines = new();
    private readonly Queue<string> _records = new();
    private TaskCompletionSource? _taken;

    public int Pending => _traceLines.Count + _records.Count;

    /// <summary>One window's lines, hosts in fleet order.</summary>
    public void Add(HostWindowStats[] results)
    {
        foreach (var s in results)
        {
            foreach (var line in s.TraceLines) _traceLines.Enqueue(line);
            foreach (var line in s.Records) _records.Enqueue(line);
        }
    }

    /// <summary>Takes (removes) up to maxLines lines of each kind, oldest first.</summary>
    public ScenarioCapture Take(int maxLines)
    {
        if (Pending == 0) return ScenarioCapture.Empty;
        var trace = ImmutableArray.CreateBuilder<string>(Math.Min(maxLines, _traceLines.Count));
        while (trace.Count < maxLines && _traceLines.TryDequeue(out var l)) trace.Add(l);
        var records = ImmutableArray.CreateBuilder<string>(Math.Min(maxLines, _records.Count));
        while (records.Count < maxLines && _records.TryDequeue(out var r)) records.Add(r);
        Release();
        return new ScenarioCapture { TraceLines = trace.ToImmutable(), Records = records.ToImmutable() };
    }

    /// <summary>Waits until at most limit lines are pending (or the run is cancelled).</summary>
    public async Task WaitBelow(int limit, CancellationToken cancel)
    {
        using var wake = cancel.Register(Release);
        while (Pending > limit && !cancel.IsCancellationRequested)
        {
            _taken = new TaskCompletionSource();
            await _taken.Task;
        }
    }

    /// <summary>Wakes a waiting run (lines were taken, or it is cancelled).</summary>
    public void Release() => _taken?.TrySetResult();

    public ImmutableArray<string> TraceLines => [.. _traceLines];
    public ImmutableArray<string> Records => [.. _records];

    public void Restore(ImmutableArray<string> traceLines, ImmutableArray<string> records)
    {
        _traceLines.Clear();
        foreach (var l in traceLines) _traceLines.Enqueue(l);
        _records.Clear();
        foreach (var r in records) _records.Enqueue(r);
    }
}
