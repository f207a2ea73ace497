using System.Numerics;

namespace BpfTraceSim.Kernel;

/// <summary>
/// The kernel's Jenkins hash (include/linux/jhash.h: Bob Jenkins' public-domain lookup3, 2006).
/// jhash hashes bytes (read as little-endian words on x86, as here), jhash2 an array of u32 words;
/// on the same little-endian bytes the two agree. bpf_get_stackid buckets stacks by jhash2 of the
/// ips seen as u32 words with initval 0.
/// </summary>
public static class JHash
{
    /// <summary>JHASH_INITVAL: the arbitrary start value of the internal state.</summary>
    public const uint InitVal = 0xdeadbeef;

    /// <summary>jhash2(k, length, initval): length is the number of u32 words.</summary>
    public static uint Jhash2(ReadOnlySpan<uint> k, uint initval)
    {
        uint a, b, c;
        a = b = c = InitVal + ((uint)k.Length << 2) + initval;
        while (k.Length > 3)
        {
            a += k[0]; b += k[1]; c += k[2];
            Mix(ref a, ref b, ref c);
            k = k[3..];
        }
        if (k.Length == 0) return c;
        if (k.Length == 3) c += k[2];
        if (k.Length >= 2) b += k[1];
        a += k[0];
        Final(ref a, ref b, ref c);
        return c;
    }

    /// <summary>jhash(key, length, initval) over bytes.</summary>
    public static uint Jhash(ReadOnlySpan<byte> k, uint initval)
    {
        uint a, b, c;
        a = b = c = InitVal + (uint)k.Length + initval;
        while (k.Length > 12)
        {
            a += Word(k, 0); b += Word(k, 4); c += Word(k, 8);
            Mix(ref a, ref b, ref c);
            k = k[12..];
        }
        if (k.Length == 0) return c;
        // the last 1..12 bytes, each into its lane (a: 0-3, b: 4-7, c: 8-11)
        for (int i = k.Length - 1; i >= 0; i--)
        {
            uint v = (uint)k[i] << (8 * (i & 3));
            if (i >= 8) c += v; else if (i >= 4) b += v; else a += v;
        }
        Final(ref a, ref b, ref c);
        return c;
    }

    private static uint Word(ReadOnlySpan<byte> k, int off) =>
        k[off] | (uint)k[off + 1] << 8 | (uint)k[off + 2] << 16 | (uint)k[off + 3] << 24;

    // __jhash_mix: mix three words reversibly
    private static void Mix(ref uint a, ref uint b, ref uint c)
    {
        a -= c; a ^= BitOperations.RotateLeft(c, 4); c += b;
        b -= a; b ^= BitOperations.RotateLeft(a, 6); a += c;
        c -= b; c ^= BitOperations.RotateLeft(b, 8); b += a;
        a -= c; a ^= BitOperations.RotateLeft(c, 16); c += b;
        b -= a; b ^= BitOperations.RotateLeft(a, 19); a += c;
        c -= b; c ^= BitOperations.RotateLeft(b, 4); b += a;
    }

    // __jhash_final: fold a, b into c
    private static void Final(ref uint a, ref uint b, ref uint c)
    {
        c ^= b; c -= BitOperations.RotateLeft(b, 14);
        a ^= c; a -= BitOperations.RotateLeft(c, 11);
        b ^= a; b -= BitOperations.RotateLeft(a, 25);
        c ^= b; c -= BitOperations.RotateLeft(b, 16);
        a ^= c; a -= BitOperations.RotateLeft(c, 4);
        b ^= a; b -= BitOperations.RotateLeft(a, 14);
        c ^= b; c -= BitOperations.RotateLeft(b, 24);
    }
}
