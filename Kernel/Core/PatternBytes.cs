namespace BpfTraceSim.Kernel;

/// <summary>
/// The payload of an output given by size only (exec's `size` without `data_hex`, a scenario body's
/// `size`): byte i = i &amp; 0xff. One definition for every engine; accounting-mode rings never copy it.
/// </summary>
public static class PatternBytes
{
    private static readonly byte[] Small = Create(4096);
    private static byte[]? s_large;

    private static byte[] Create(int n)
    {
        var p = new byte[n];
        for (int i = 0; i < n; i++) p[i] = (byte)i;
        return p;
    }

    /// <summary>size pattern bytes (a view of a shared buffer: read only).</summary>
    public static ReadOnlySpan<byte> Of(int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        if (size <= Small.Length) return Small.AsSpan(0, size);
        var big = s_large;
        if (big is null || big.Length < size)
        {
            big = Create(Math.Max(size, (1 << 20) + 8));
            s_large = big;
        }
        return big.AsSpan(0, size);
    }

    /// <summary>A new array of size pattern bytes.</summary>
    public static byte[] Array(int size) => Of(size).ToArray();
}
