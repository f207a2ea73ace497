using System.Numerics;

namespace BpfTraceSim.Bpf.Verifier;

/// <summary>
/// A tristate number as kernel/bpf/tnum.c models a scalar: bits in Mask are unknown, the others
/// are Value's. Every operation over-approximates the set of concrete values.
/// </summary>
internal readonly record struct Tnum(ulong Value, ulong Mask)
{
    public static readonly Tnum Unknown = new(0, ulong.MaxValue);

    public static Tnum Const(ulong v) => new(v, 0);

    public bool IsConst => Mask == 0;
    public bool IsUnknown => Mask == ulong.MaxValue;
    public ulong Max => Value | Mask;

    /// <summary>tnum_range: the smallest tnum holding every value of [min, max].</summary>
    public static Tnum Range(ulong min, ulong max)
    {
        ulong chi = min ^ max;
        int bits = 64 - BitOperations.LeadingZeroCount(chi);
        if (bits > 63) return Unknown;
        ulong delta = (1UL << bits) - 1;
        return new(min & ~delta, delta);
    }

    public static Tnum operator +(Tnum a, Tnum b)
    {
        ulong sm = a.Mask + b.Mask, sv = a.Value + b.Value;
        ulong chi = (sm + sv) ^ sv;
        ulong mu = chi | a.Mask | b.Mask;
        return new(sv & ~mu, mu);
    }

    public static Tnum operator -(Tnum a, Tnum b)
    {
        ulong dv = a.Value - b.Value;
        ulong chi = (dv + a.Mask) ^ (dv - b.Mask);
        ulong mu = chi | a.Mask | b.Mask;
        return new(dv & ~mu, mu);
    }

    public static Tnum operator &(Tnum a, Tnum b)
    {
        ulong v = a.Value & b.Value;
        return new(v, (a.Value | a.Mask) & (b.Value | b.Mask) & ~v);
    }

    public static Tnum operator |(Tnum a, Tnum b)
    {
        ulong v = a.Value | b.Value, mu = a.Mask | b.Mask;
        return new(v, mu & ~v);
    }

    public static Tnum operator ^(Tnum a, Tnum b)
    {
        ulong v = a.Value ^ b.Value, mu = a.Mask | b.Mask;
        return new(v & ~mu, mu);
    }

    public Tnum Lsh(int k) => new(Value << k, Mask << k);
    public Tnum Rsh(int k) => new(Value >> k, Mask >> k);
    public Tnum Arsh(int k) => new((ulong)((long)Value >> k), (ulong)((long)Mask >> k));

    /// <summary>Multiplication by shift-and-add over the known and unknown bits of a.</summary>
    public static Tnum Mul(Tnum a, Tnum b)
    {
        Tnum accMask = Const(0);
        ulong accValue = a.Value * b.Value;
        while (a.Value != 0 || a.Mask != 0)
        {
            if ((a.Value & 1) != 0) accMask += new Tnum(0, b.Mask);
            else if ((a.Mask & 1) != 0) accMask += new Tnum(0, b.Value | b.Mask);
            a = a.Rsh(1);
            b = b.Lsh(1);
        }
        return Const(accValue) + accMask;
    }

    /// <summary>The values both tnums allow.</summary>
    public Tnum Intersect(Tnum b)
    {
        ulong v = Value | b.Value, mu = Mask & b.Mask;
        return new(v & ~mu, mu);
    }

    /// <summary>The low bytes only (zero-extended), as a narrower register or load sees it.</summary>
    public Tnum Cast(int bytes) => bytes >= 8 ? this : new(Value & ((1UL << (bytes * 8)) - 1), Mask & ((1UL << (bytes * 8)) - 1));

    /// <summary>tnum_in: every value of b is a value of this.</summary>
    public bool Contains(Tnum b) => (b.Mask & ~Mask) == 0 && Value == (b.Value & ~Mask);

    public override string ToString() => $"(0x{Value:x}; 0x{Mask:x})";
}
