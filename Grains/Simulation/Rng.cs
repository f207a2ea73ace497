using BpfTraceSim.Kernel;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;

namespace BpfTraceSim.Grains.Simulation;

/// <summary>
/// xoshiro256** (Blackman and Vigna): a small, fast generator whose whole state is four words,
/// so a stream per (host, CPU, program) costs 32 bytes and checkpoints exactly.
/// </summary>
public struct Xoshiro256
{
    public ulong S0, S1, S2, S3;

    /// <summary>Seeds the four words from one 64-bit value with SplitMix64 (never all zero).</summary>
    public static Xoshiro256 FromSeed(ulong seed)
    {
        var r = new Xoshiro256
        {
            S0 = SplitMix(ref seed),
            S1 = SplitMix(ref seed),
            S2 = SplitMix(ref seed),
            S3 = SplitMix(ref seed),
        };
        if ((r.S0 | r.S1 | r.S2 | r.S3) == 0) r.S0 = 1;
        return r;
    }

    public static ulong SplitMix(ref ulong s)
    {
        ulong z = s += 0x9e37_79b9_7f4a_7c15UL;
        z = (z ^ (z >> 30)) * 0xbf58_476d_1ce4_e5b9UL;
        z = (z ^ (z >> 27)) * 0x94d0_49bb_1331_11ebUL;
        return z ^ (z >> 31);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Next()
    {
        ulong result = BitOperations.RotateLeft(S1 * 5, 7) * 9;
        ulong t = S1 << 17;
        S2 ^= S0;
        S3 ^= S1;
        S1 ^= S2;
        S0 ^= S3;
        S2 ^= t;
        S3 = BitOperations.RotateLeft(S3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

    /// <summary>
    /// Exponential with mean 1, by Marsaglia and Tsang's ziggurat (256 layers): one 64-bit draw
    /// and a table look-up almost always (the layer from the low 8 bits, the abscissa from the
    /// high 32, so the two are independent); the tail beyond R is R + Exp(1) by inversion.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double NextExponential()
    {
        ulong r = Next();
        int i = (int)(r & 0xff);
        uint j = (uint)(r >> 32);
        if (j < ExpZiggurat.K[i]) return j * ExpZiggurat.W[i];
        return ExpSlow(i, j);
    }

    private double ExpSlow(int i, uint j)
    {
        while (true)
        {
            if (i == 0) return ExpZiggurat.R - Math.Log(1.0 - NextDouble());
            double x = j * ExpZiggurat.W[i];
            if (ExpZiggurat.F[i] + NextDouble() * (ExpZiggurat.F[i - 1] - ExpZiggurat.F[i]) < Math.Exp(-x)) return x;
            ulong r = Next();
            i = (int)(r & 0xff);
            j = (uint)(r >> 32);
            if (j < ExpZiggurat.K[i]) return j * ExpZiggurat.W[i];
        }
    }

    /// <summary>Uniform integer in [min, max] (Lemire's multiply-shift; max - min below 2^63).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long NextInclusive(long min, long max)
    {
        ulong range = (ulong)(max - min) + 1;
        if (range == 0) return (long)Next(); // the whole 64-bit range
        return min + (long)Math.BigMul(Next(), range, out _);
    }
}

/// <summary>The tables of the exponential ziggurat (Marsaglia and Tsang 2000, 256 layers, 32-bit abscissae).</summary>
internal static class ExpZiggurat
{
    /// <summary>Start of the tail.</summary>
    public const double R = 7.69711747013104972;
    private const double Area = 3.949659822581572e-3; // area of each layer
    public static readonly uint[] K = new uint[256];
    public static readonly double[] W = new double[256];
    public static readonly double[] F = new double[256];

    static ExpZiggurat()
    {
        const double m2 = 4294967296.0;
        double de = R, te = de;
        double q = Area / Math.Exp(-de);
        K[0] = (uint)(de / q * m2);
        K[1] = 0;
        W[0] = q / m2;
        W[255] = de / m2;
        F[0] = 1.0;
        F[255] = Math.Exp(-de);
        for (int i = 254; i >= 1; i--)
        {
            de = -Math.Log(Area / de + Math.Exp(-de));
            K[i + 1] = (uint)(de / te * m2);
            te = de;
            F[i] = Math.Exp(-de);
            W[i] = de / m2;
        }
    }
}

/// <summary>
/// Seeds of the random streams: SipHash-2-4 keyed by the scenario seed over the UTF-8 names
/// that identify a stream (never string.GetHashCode, which differs between processes), so a
/// stream depends only on the seed and the names.
/// </summary>
public static class StreamSeeds
{
    private const ulong Key1 = 0x6270_6673_696d_3031UL; // "bpfsim01"

    /// <summary>The stream of program `program` on CPU `cpu` of host `host`; purpose tells apart the firing process and the body.</summary>
    public static ulong Program(ulong seed, string host, int cpu, string program, string purpose)
    {
        // the UTF-8 of "prog\0{purpose}\0{host}\0{cpu}\0{program}", built without a string: this runs
        // twice per CPU while a large fleet is being built (room: "prog\0", three NULs, an int's digits, the names)
        int max = 5 + 3 + 11 + Encoding.UTF8.GetMaxByteCount(purpose.Length + host.Length + program.Length);
        Span<byte> buf = max <= 512 ? stackalloc byte[512] : new byte[max];
        int n = 0;
        n += Encoding.UTF8.GetBytes("prog\0", buf[n..]);
        n += Encoding.UTF8.GetBytes(purpose, buf[n..]);
        buf[n++] = 0;
        n += Encoding.UTF8.GetBytes(host, buf[n..]);
        buf[n++] = 0;
        cpu.TryFormat(buf[n..], out int digits, default, System.Globalization.CultureInfo.InvariantCulture);
        n += digits;
        buf[n++] = 0;
        n += Encoding.UTF8.GetBytes(program, buf[n..]);
        return SipHash.Hash24(seed, Key1, buf[..n]);
    }

    /// <summary>The stream of consumer `consumer` on host `host`.</summary>
    public static ulong Consumer(ulong seed, string host, string consumer) => Hash(seed, $"consumer\0{host}\0{consumer}");

    /// <summary>A per-host value (e.g. the %p hashing key of the host's boot).</summary>
    public static ulong Host(ulong seed, string host, string purpose) => Hash(seed, $"host\0{purpose}\0{host}");

    public static ulong Hash(ulong seed, string text) => SipHash.Hash24(seed, Key1, Encoding.UTF8.GetBytes(text));
}
