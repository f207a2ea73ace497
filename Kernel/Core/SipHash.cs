using System.Buffers.Binary;
using System.Numerics;

namespace BpfTraceSim.Kernel;

/// <summary>
/// SipHash-2-4 (Aumasson, Bernstein), the keyed hash the kernel uses for %p pointer hashing and the
/// simulator uses to derive its random streams from a seed and names.
/// </summary>
public static class SipHash
{
    /// <summary>SipHash-2-4 of a byte string under the 128-bit key (k0, k1).</summary>
    public static ulong Hash24(ulong k0, ulong k1, ReadOnlySpan<byte> m)
    {
        Init(k0, k1, out ulong v0, out ulong v1, out ulong v2, out ulong v3);
        int full = m.Length & ~7;
        for (int i = 0; i < full; i += 8) Compress(BinaryPrimitives.ReadUInt64LittleEndian(m[i..]), ref v0, ref v1, ref v2, ref v3);
        ulong b = (ulong)m.Length << 56;
        for (int i = full; i < m.Length; i++) b |= (ulong)m[i] << (8 * (i - full));
        return Finish(b, ref v0, ref v1, ref v2, ref v3);
    }

    /// <summary>SipHash-2-4 of one little-endian 64-bit word (ptr_to_hashval's input), without a buffer.</summary>
    public static ulong Hash24(ulong k0, ulong k1, ulong word)
    {
        Init(k0, k1, out ulong v0, out ulong v1, out ulong v2, out ulong v3);
        Compress(word, ref v0, ref v1, ref v2, ref v3);
        return Finish(8UL << 56, ref v0, ref v1, ref v2, ref v3);
    }

    private static void Init(ulong k0, ulong k1, out ulong v0, out ulong v1, out ulong v2, out ulong v3)
    {
        v0 = k0 ^ 0x736f_6d65_7073_6575UL;
        v1 = k1 ^ 0x646f_7261_6e64_6f6dUL;
        v2 = k0 ^ 0x6c79_6765_6e65_7261UL;
        v3 = k1 ^ 0x7465_6462_7974_6573UL;
    }

    private static void Compress(ulong w, ref ulong v0, ref ulong v1, ref ulong v2, ref ulong v3)
    {
        v3 ^= w;
        Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3);
        v0 ^= w;
    }

    private static ulong Finish(ulong lastBlock, ref ulong v0, ref ulong v1, ref ulong v2, ref ulong v3)
    {
        Compress(lastBlock, ref v0, ref v1, ref v2, ref v3);
        v2 ^= 0xff;
        for (int i = 0; i < 4; i++) Round(ref v0, ref v1, ref v2, ref v3);
        return v0 ^ v1 ^ v2 ^ v3;
    }

    private static void Round(ref ulong v0, ref ulong v1, ref ulong v2, ref ulong v3)
    {
        v0 += v1; v1 = BitOperations.RotateLeft(v1, 13); v1 ^= v0; v0 = BitOperations.RotateLeft(v0, 32);
        v2 += v3; v3 = BitOperations.RotateLeft(v3, 16); v3 ^= v2;
        v0 += v3; v3 = BitOperations.RotateLeft(v3, 21); v3 ^= v0;
        v2 += v1; v1 = BitOperations.RotateLeft(v1, 17); v1 ^= v2; v2 = BitOperations.RotateLeft(v2, 32);
    }
}
