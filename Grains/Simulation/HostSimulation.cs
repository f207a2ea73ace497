using BpfTraceSim.Contracts.Scenarios;

namespace BpfTraceSim.Grains.Simulation;

/// <summary>
/// The deterministic simulation of ONE host of a scenario: all its CPUs, its programs' firings
/// and their helper calls against the kernel model, and its readers, window by window in virtual
/// time. Hosts are independent: the same scenario, seed and host give the same windows whatever
/// process runs them and however windows are batched (checkpoint/restore at window boundaries
/// included). Not thread-safe: one caller at a time.
/// </summary>
public sealed partial class HostSimulation
{
    /// <summary>Builds the host at time 0.</summary>
    /// <param name="scenario">The parsed scenario.</param>
    /// <param name="groupIndex">Index into scenario.Fleet.</param>
    /// <param name="hostIndex">Index of the host in its group (host name GROUP-INDEX).</param>
    /// <param name="captureRecords">Keep ring payloads and return the records readers consume.</param>
    /// <param name="captureTrace">Keep full trace rings and return trace_pipe lines per window.</param>
    public HostSimulation(Scenario scenario, int groupIndex, int hostIndex, bool captureRecords = false, bool captureTrace = false)
    {
        Scenario = scenario;
        GroupIndex = groupIndex;
        HostIndex = hostIndex;
        CaptureRecords = captureRecords;
        CaptureTrace = captureTrace;
        HostName = scenario.Fleet[groupIndex].HostName(hostIndex);
    }

    /// <summary>Builds the named host (GROUP-INDEX).</summary>
    public HostSimulation(Scenario scenario, HostId host, bool captureRecords = false, bool captureTrace = false)
        : this(scenario, host.Group, host.Index, captureRecords, captureTrace) { }

    public Scenario Scenario { get; }
    public int GroupIndex { get; }
    public int HostIndex { get; }
    public string HostName { get; }
    public bool CaptureRecords { get; }
    public bool CaptureTrace { get; }
    /// <summary>CPUs of this host.</summary>
    public int CpuCount => Scenario.Fleet[GroupIndex].Cpus;
    /// <summary>The window RunWindow expects next (windows run in order from 0).</summary>
    public long NextWindow { get; private set; }
    /// <summary>Every window has run.</summary>
    public bool Finished => NextWindow >= Scenario.WindowCount;
    /// <summary>Virtual time reached (the end of the last window run).</summary>
    public long NowNs => NextWindow * Scenario.WindowNs;

    /// <summary>
    /// Advances virtual time over window windowIndex ([index*window, (index+1)*window)) and
    /// returns what happened in it. Windows must run in order; the conservation of every ring is
    /// checked at the end (ConservationException on a violation).
    /// </summary>
    public WindowStats RunWindow(long windowIndex) => throw new NotImplementedException();

    /// <summary>Runs every remaining window.</summary>
    public List<WindowStats> RunToEnd()
    {
        var list = new List<WindowStats>();
        while (!Finished) list.Add(RunWindow(NextWindow));
        return list;
    }

    /// <summary>Per-ring conservation since time 0; throws ConservationException when a ring breaks it.</summary>
    public ConservationResult CheckConservation() => throw new NotImplementedException();

    /// <summary>The whole state at the current window boundary (RNGs, rings, readers, pending events).</summary>
    public byte[] Checkpoint() => throw new NotImplementedException();

    /// <summary>
    /// A host continued from a checkpoint taken by <see cref="Checkpoint"/> of the same scenario
    /// and host: running on from it gives bit-identical windows.
    /// </summary>
    public static HostSimulation Restore(Scenario scenario, int groupIndex, int hostIndex, byte[] checkpoint,
        bool captureRecords = false, bool captureTrace = false) => throw new NotImplementedException();

    /// <summary>Approximate bytes of managed state this host keeps between windows (for capacity planning).</summary>
    public long EstimateStateBytes() => throw new NotImplementedException();
}
