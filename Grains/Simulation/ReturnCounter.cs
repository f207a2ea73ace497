using System.Runtime.CompilerServices;

namespace BpfTraceSim.Grains.Simulation;

/// <summary>
/// Counts of (CPU, helper, return value) for the current window: an open-addressing table with
/// long keys, so counting a call is a multiply, a shift and usually one probe.
/// </summary>
internal sealed class ReturnCounter
{
    private const long Empty = long.MinValue;
    private long[] _keys;
    private long[] _counts;
    private int _mask;
    private int _used;

    public ReturnCounter(int capacity = 16)
    {
        int cap = 16;
        while (cap < capacity * 2) cap *= 2;
        _keys = new long[cap];
        _counts = new long[cap];
        _keys.AsSpan().Fill(Empty);
        _mask = cap - 1;
    }

    public int Used => _used;

    /// <summary>Distinct helper kinds a key holds (5 bits).</summary>
    public const int MaxKinds = 32;

    /// <summary>Key of (cpu, helper kind, ret): cpu in 19 bits (SimLimits.MaxCpus is 8,192), kind in 5, ret in 40 (sign-extended back).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Key(int cpu, int kind, long ret) => ((long)cpu << 45) | ((long)kind << 40) | (ret & 0xff_ffff_ffffL);

    /// <summary>The same (helper kind, ret) key with CPU 0: host-wide counts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long WithoutCpu(long key) => key & ((1L << 45) - 1);

    public static void Split(long key, out int cpu, out int kind, out long ret)
    {
        cpu = (int)(key >> 45);
        kind = (int)((key >> 40) & 0x1f);
        ret = (key << 24) >> 24;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(long key) => Add(key, 1);

    public void Add(long key, long n)
    {
        int i = (int)((ulong)(key * unchecked((long)0x9e37_79b9_7f4a_7c15UL)) >> 32) & _mask;
        var keys = _keys;
        while (true)
        {
            long k = keys[i];
            if (k == key)
            {
                _counts[i] += n;
                return;
            }
            if (k == Empty) break;
            i = (i + 1) & _mask;
        }
        keys[i] = key;
        _counts[i] = n;
        if (++_used * 2 > keys.Length) Rehash();
    }

    private void Rehash()
    {
        var oldKeys = _keys;
        var oldCounts = _counts;
        _keys = new long[oldKeys.Length * 2];
        _counts = new long[oldKeys.Length * 2];
        _keys.AsSpan().Fill(Empty);
        _mask = _keys.Length - 1;
        for (int j = 0; j < oldKeys.Length; j++)
        {
            if (oldKeys[j] == Empty) continue;
            int i = (int)((ulong)(oldKeys[j] * unchecked((long)0x9e37_79b9_7f4a_7c15UL)) >> 32) & _mask;
            while (_keys[i] != Empty) i = (i + 1) & _mask;
            _keys[i] = oldKeys[j];
            _counts[i] = oldCounts[j];
        }
    }

    /// <summary>Every (key, count) pair, in table order.</summary>
    public void ForEach(Action<long, long> visit)
    {
        for (int i = 0; i < _keys.Length; i++)
            if (_keys[i] != Empty) visit(_keys[i], _counts[i]);
    }

    public void Clear()
    {
        if (_used == 0) return;
        _keys.AsSpan().Fill(Empty);
        _used = 0;
    }
}
