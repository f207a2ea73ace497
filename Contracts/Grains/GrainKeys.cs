using System.Globalization;

namespace BpfTraceSim.Contracts.Grains;

/// <summary>
/// Key of CPU grain <see cref="Cpu"/> of simulated host <see cref="Host"/>. Orleans keys the grain by
/// the string form "{host}/{cpu}": the host part first, so the simulated-host placement keeps it with
/// its host (see <see cref="GrainKeys.HostOf"/>).
/// </summary>
public readonly record struct CpuKey(string Host, int Cpu)
{
    public override string ToString() => GrainKeys.Join(Host, Cpu.ToString(CultureInfo.InvariantCulture));

    public static CpuKey Parse(string key)
    {
        int last = GrainKeys.LastSeparator(key);
        return new CpuKey(key[..last], GrainKeys.Int(key, last + 1));
    }
}

/// <summary>Key of a program loaded on host <see cref="Host"/>, running on CPU <see cref="Cpu"/>: "{host}/{program}/{cpu}".</summary>
public readonly record struct ProgramKey(string Host, string Program, int Cpu)
{
    public CpuKey CpuKey => new(Host, Cpu);

    public override string ToString() => GrainKeys.Join(GrainKeys.Join(Host, Program), Cpu.ToString(CultureInfo.InvariantCulture));

    public static ProgramKey Parse(string key)
    {
        int first = GrainKeys.FirstSeparator(key), last = GrainKeys.LastSeparator(key);
        if (last == first) throw new FormatException($"\"{key}\" is not a program grain key (host/program/cpu)");
        return new ProgramKey(key[..first], key[(first + 1)..last], GrainKeys.Int(key, last + 1));
    }
}

/// <summary>Key of the seq_file <see cref="Seq"/> of a bpf_iter link on host <see cref="Host"/>: "{host}/{seq}".</summary>
public readonly record struct SeqFileKey(string Host, string Seq)
{
    public override string ToString() => GrainKeys.Join(Host, Seq);

    public static SeqFileKey Parse(string key)
    {
        int first = GrainKeys.FirstSeparator(key);
        return new SeqFileKey(key[..first], key[(first + 1)..]);
    }
}

/// <summary>
/// Key of host <see cref="Host"/> of scenario run <see cref="Run"/>: "{run}:{host}". It has no '/':
/// the whole key is its own host key, so each scenario host is placed on its own.
/// </summary>
public readonly record struct ScenarioHostKey(string Run, string Host)
{
    public override string ToString() => Run + ":" + Host;

    /// <summary>The string key of host <paramref name="host"/> of run <paramref name="runId"/>.</summary>
    public static string Of(string runId, string host) => new ScenarioHostKey(runId, host).ToString();
}

/// <summary>
/// The one place grain keys are written and read. Typed keys in, typed keys out: no caller joins or
/// cuts key strings itself.
/// </summary>
public static class GrainKeys
{
    /// <summary>Separates the simulated host from the rest of a key (host ids and run ids never contain it).</summary>
    public const char Separator = '/';

    public static ICpuGrain GetCpuGrain(this IGrainFactory grains, CpuKey key) => grains.GetGrain<ICpuGrain>(key.ToString());

    public static IProgramGrain GetProgramGrain(this IGrainFactory grains, ProgramKey key) => grains.GetGrain<IProgramGrain>(key.ToString());

    public static ISeqFileGrain GetSeqFileGrain(this IGrainFactory grains, SeqFileKey key) => grains.GetGrain<ISeqFileGrain>(key.ToString());

    public static IScenarioHostGrain GetScenarioHostGrain(this IGrainFactory grains, ScenarioHostKey key) => grains.GetGrain<IScenarioHostGrain>(key.ToString());

    /// <summary>The part of a grain's string key that names its simulated host (placement): up to the first '/'.</summary>
    public static ReadOnlySpan<char> HostOf(string grainKey)
    {
        int i = grainKey.IndexOf(Separator);
        return i < 0 ? grainKey : grainKey.AsSpan(0, i);
    }

    internal static string Join(string left, string right) => left + Separator + right;

    internal static int FirstSeparator(string key)
    {
        int i = key.IndexOf(Separator);
        return i > 0 ? i : throw new FormatException($"\"{key}\" is not a host grain key (host/...)");
    }

    internal static int LastSeparator(string key)
    {
        int i = key.LastIndexOf(Separator);
        return i > 0 ? i : throw new FormatException($"\"{key}\" is not a host grain key (host/...)");
    }

    internal static int Int(string key, int start) =>
        int.TryParse(key.AsSpan(start), NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            ? n
            : throw new FormatException($"\"{key}\" does not end in a CPU number");
}
