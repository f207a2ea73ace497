using System.Numerics;

namespace BpfTraceSim.Grains.Simulation;

/// <summary>
/// A log-linear histogram of non-negative integers (consumer lag in ns), in the spirit of
/// HdrHistogram: values below 64 have their own bucket, above that every power of two is split
/// into 32 equal sub-buckets, so a reported percentile is within 1/32 (3.1%) of the true value.
/// Buckets are stored densely between the lowest and highest bucket used, so a histogram of
/// lags that span a few octaves holds a few hundred longs. Merging is exact (bucket counts add),
/// so CPUs, windows and hosts merge in any order with the same result.
/// Immutable once built; build with <see cref="Builder"/>.
/// </summary>
public sealed class LagHistogram : IEquatable<LagHistogram>
{
    /// <summary>Sub-buckets per power of two (precision 1/SubBuckets).</summary>
    public const int SubBuckets = 32;
    private const int SubBits = 5;             // log2(SubBuckets)
    private const int LinearLimit = 2 * SubBuckets; // values below this are exact

    public static readonly LagHistogram Empty = new(0, [], 0, 0, 0);

    private readonly long[] _counts; // _counts[i] = count of bucket FirstBucket + i

    private LagHistogram(int firstBucket, long[] counts, long count, long min, long max)
    {
        FirstBucket = firstBucket;
        _counts = counts;
        Count = count;
        Min = min;
        Max = max;
    }

    /// <summary>Values recorded.</summary>
    public long Count { get; }
    /// <summary>Smallest value recorded (0 when empty).</summary>
    public long Min { get; }
    /// <summary>Largest value recorded (0 when empty).</summary>
    public long Max { get; }
    /// <summary>Index of the first stored bucket.</summary>
    public int FirstBucket { get; }
    /// <summary>Counts of buckets FirstBucket, FirstBucket+1, ...</summary>
    public ReadOnlySpan<long> Counts => _counts;

    /// <summary>The bucket a value falls in.</summary>
    public static int BucketOf(long value)
    {
        if (value < LinearLimit) return (int)Math.Max(value, 0);
        int msb = 63 - BitOperations.LeadingZeroCount((ulong)value); // >= SubBits + 1
        int shift = msb - SubBits;
        return (shift + 1) * SubBuckets + (int)(value >> shift) - SubBuckets;
    }

    /// <summary>The smallest value of a bucket.</summary>
    public static long BucketLow(int bucket)
    {
        if (bucket < LinearLimit) return bucket;
        int shift = bucket / SubBuckets - 1;
        long sub = bucket % SubBuckets + SubBuckets;
        return sub << shift;
    }

    /// <summary>The largest value of a bucket.</summary>
    public static long BucketHigh(int bucket)
    {
        if (bucket < LinearLimit) return bucket;
        int shift = bucket / SubBuckets - 1;
        return BucketLow(bucket) + (1L << shift) - 1;
    }

    /// <summary>
    /// The value at percentile p (0..100): the highest value of the bucket holding the
    /// ceil(p/100 * Count)-th smallest value, capped at Max (HdrHistogram's highest equivalent
    /// value); 0 when empty.
    /// </summary>
    public long Percentile(double p)
    {
        if (Count == 0) return 0;
        long rank = (long)Math.Ceiling(Math.Clamp(p, 0, 100) / 100.0 * Count);
        if (rank < 1) rank = 1;
        long seen = 0;
        for (int i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank) return Math.Min(BucketHigh(FirstBucket + i), Max);
        }
        return Max;
    }

    /// <summary>The sum of two histograms.</summary>
    public LagHistogram Merge(LagHistogram other)
    {
        if (other.Count == 0) return this;
        if (Count == 0) return other;
        int first = Math.Min(FirstBucket, other.FirstBucket);
        int end = Math.Max(FirstBucket + _counts.Length, other.FirstBucket + other._counts.Length);
        var counts = new long[end - first];
        for (int i = 0; i < _counts.Length; i++) counts[FirstBucket - first + i] += _counts[i];
        for (int i = 0; i < other._counts.Length; i++) counts[other.FirstBucket - first + i] += other._counts[i];
        return new LagHistogram(first, counts, Count + other.Count, Math.Min(Min, other.Min), Math.Max(Max, other.Max));
    }

    /// <summary>The sum of many histograms in one pass (one allocation).</summary>
    public static LagHistogram Sum(IReadOnlyList<LagHistogram> parts)
    {
        int first = int.MaxValue, end = 0;
        long n = 0, min = long.MaxValue, max = 0;
        foreach (var h in parts)
        {
            if (h.Count == 0) continue;
            first = Math.Min(first, h.FirstBucket);
            end = Math.Max(end, h.FirstBucket + h._counts.Length);
            n += h.Count;
            min = Math.Min(min, h.Min);
            max = Math.Max(max, h.Max);
        }
        if (n == 0) return Empty;
        var counts = new long[end - first];
        foreach (var h in parts)
            for (int i = 0; i < h._counts.Length; i++) counts[h.FirstBucket - first + i] += h._counts[i];
        return new LagHistogram(first, counts, n, min, max);
    }

    /// <summary>Rebuilds a histogram from its parts (deserialisation).</summary>
    public static LagHistogram FromParts(int firstBucket, long[] counts, long min, long max)
    {
        long n = 0;
        foreach (long c in counts) n += c;
        return n == 0 ? Empty : new LagHistogram(firstBucket, (long[])counts.Clone(), n, min, max);
    }

    public bool Equals(LagHistogram? other) =>
        other is not null && Count == other.Count && Min == other.Min && Max == other.Max &&
        (Count == 0 || (FirstBucket == other.FirstBucket && _counts.AsSpan().SequenceEqual(other._counts)));

    public override bool Equals(object? obj) => Equals(obj as LagHistogram);

    public override int GetHashCode() => HashCode.Combine(Count, Min, Max, FirstBucket);

    public override string ToString() => $"n={Count} min={Min} p50={Percentile(50)} p99={Percentile(99)} max={Max}";

    /// <summary>A mutable histogram for the engine's hot path; Build() freezes it and resets the builder.</summary>
    public sealed class Builder
    {
        private long[] _counts = [];
        private int _first;
        private long _count, _min, _max;

        public long Count => _count;

        public void Record(long value)
        {
            if (value < 0) value = 0;
            int b = BucketOf(value);
            int i = b - _first;
            if ((uint)i >= (uint)_counts.Length) i = Grow(b);
            _counts[i]++;
            if (_count == 0) { _min = _max = value; }
            else
            {
                if (value < _min) _min = value;
                if (value > _max) _max = value;
            }
            _count++;
        }

        private int Grow(int b)
        {
            // Bucket arrays come from the shared pool: a window's builders borrow them and give them
            // back when the window's histograms are built, so hosts keep none between windows.
            if (_counts.Length == 0)
            {
                _counts = System.Buffers.ArrayPool<long>.Shared.Rent(128);
                _counts.AsSpan().Clear(); // another renter may have returned it dirty
                _first = Math.Max(0, b - 32);
                return b - _first;
            }
            int first = Math.Min(_first, b);
            int end = Math.Max(_first + _counts.Length, b + 1);
            int len = Math.Max(end - first, 2 * _counts.Length);
            if (b < _first) first = Math.Max(0, end - len);
            var counts = System.Buffers.ArrayPool<long>.Shared.Rent(len);
            counts.AsSpan().Clear();
            _counts.CopyTo(counts, _first - first);
            System.Buffers.ArrayPool<long>.Shared.Return(_counts, clearArray: true);
            _counts = counts;
            _first = first;
            return b - _first;
        }

        /// <summary>Adds every value of h: the same as Merge, without a new histogram per step.</summary>
        public void Add(LagHistogram h) => Add(h.FirstBucket, h.Counts, h.Min, h.Max);

        /// <summary>Adds a histogram given by its parts (buckets from firstBucket on, its min and max).</summary>
        public void Add(int firstBucket, ReadOnlySpan<long> counts, long min, long max)
        {
            long n = 0;
            for (int i = 0; i < counts.Length; i++)
            {
                if (counts[i] == 0) continue;
                int b = firstBucket + i;
                int j = b - _first;
                if ((uint)j >= (uint)_counts.Length) j = Grow(b);
                _counts[j] += counts[i];
                n += counts[i];
            }
            if (n == 0) return;
            if (_count == 0) { _min = min; _max = max; }
            else
            {
                _min = Math.Min(_min, min);
                _max = Math.Max(_max, max);
            }
            _count += n;
        }

        /// <summary>The histogram so far (trimmed to the buckets used); the builder goes on.</summary>
        public LagHistogram Snapshot()
        {
            if (_count == 0) return Empty;
            int lo = 0, hi = _counts.Length - 1;
            while (_counts[lo] == 0) lo++;
            while (_counts[hi] == 0) hi--;
            return new LagHistogram(_first + lo, _counts.AsSpan(lo, hi - lo + 1).ToArray(), _count, _min, _max);
        }

        /// <summary>
        /// The histogram so far; the builder starts over empty but keeps its buckets (a builder
        /// that records every window, such as a host's, would otherwise rent and clear them each time).
        /// </summary>
        public LagHistogram BuildAndReuse()
        {
            if (_count == 0) return Empty;
            var h = Snapshot();
            _counts.AsSpan(h.FirstBucket - _first, h._counts.Length).Clear();
            _count = 0;
            _min = _max = 0;
            return h;
        }

        /// <summary>The histogram so far (trimmed to the buckets used); the builder starts over empty and holds no buckets.</summary>
        public LagHistogram Build()
        {
            if (_count == 0) return Empty;
            var h = Snapshot();
            System.Buffers.ArrayPool<long>.Shared.Return(_counts, clearArray: true);
            _counts = []; // between windows a CPU keeps no buckets
            _count = 0;
            _min = _max = 0;
            return h;
        }
    }
}
