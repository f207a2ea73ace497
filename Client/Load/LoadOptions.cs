namespace BpfTraceSim.Client.Load;

/// <summary>One kind of helper call in a load mix (`output:64`, `read`, `read_value`, `vprintk`).</summary>
internal sealed record LoadCall(string Kind, int Size)
{
    public override string ToString() => Kind == "output" ? $"output:{Size}" : Kind;

    public static LoadCall Parse(string item)
    {
        var parts = item.Trim().Split(':');
        return parts[0] switch
        {
            "output" when parts.Length == 1 => new LoadCall("output", 64),
            "output" when parts.Length == 2 && int.TryParse(parts[1], out int size) && size is >= 0 and <= 65536 => new LoadCall("output", size),
            "read" or "read_value" or "vprintk" when parts.Length == 1 => new LoadCall(parts[0], 0),
            _ => throw new ArgumentException($"--mix: \"{item}\" is not output[:SIZE], read, read_value or vprintk"),
        };
    }
}

/// <summary>What `bpfsim load` drives: wall-clock load on one simulated host's CPU grains.</summary>
internal sealed record LoadOptions
{
    public required IReadOnlyList<LoadCall> Mix { get; init; }
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>Helper calls carried by one grain call.</summary>
    public int Batch { get; init; } = 1000;
    /// <summary>Closed loop: callers each keep one grain call outstanding.</summary>
    public int Callers { get; init; } = 16;
    /// <summary>Open loop: target helper calls per second (null: closed loop).</summary>
    public double? Rate { get; init; }
    public int Cpus { get; init; } = 4;
}
