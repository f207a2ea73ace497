namespace BpfTraceSim.Grains.Runs;

/// <summary>
/// The long-running-work pattern of a grain (as OrleansContrib's SyncWork): Start begins the work
/// on the activation's scheduler and returns at once; callers ask whether it still runs and, once it
/// ended, for its result. The work is kept, not dropped as a fire-and-forget task: it can be
/// cancelled and awaited, and a failure is part of its result instead of an unobserved exception.
/// </summary>
internal sealed class LongRunningWork<T> where T : class
{
    private readonly CancellationTokenSource _cancel = new();
    private Task<T>? _task;

    public bool Started => _task is not null;
    public bool Running => _task is { IsCompleted: false };

    /// <summary>The result once the work ended; null while it runs or before it started.</summary>
    public T? Result => _task is { IsCompleted: true } t ? t.GetAwaiter().GetResult() : null;

    /// <summary>Starts the work; its first part runs now, the rest between the activation's calls.</summary>
    public void Start(Func<CancellationToken, Task<T>> work)
    {
        if (_task is not null) throw new InvalidOperationException("the work was started already");
        _task = work(_cancel.Token);
    }

    /// <summary>Asks the work to stop where it checks its token.</summary>
    public void Cancel() => _cancel.Cancel();

    /// <summary>Cancels the work and waits until it ended.</summary>
    public async Task StopAsync()
    {
        _cancel.Cancel();
        if (_task is not null) await _task;
    }
}
