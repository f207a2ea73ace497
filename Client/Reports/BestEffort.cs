using BpfTraceSim.Contracts.Grains;

namespace BpfTraceSim.Client.Reports;

/// <summary>
/// A clean-up call whose failure must not hide the outcome it follows (cancelling or shutting down a
/// run whose cluster may be gone): a cluster error is one line on stderr, anything else propagates.
/// </summary>
internal static class BestEffort
{
    public static async Task Run(Func<Task> call, TextWriter stderr, string command, string what)
    {
        try
        {
            await call();
        }
        catch (Exception e) when (e is OrleansException or TimeoutException or ScenarioRunException)
        {
            await stderr.WriteLineAsync($"bpfsim {command}: could not {what}: {e.Message}");
        }
    }
}
