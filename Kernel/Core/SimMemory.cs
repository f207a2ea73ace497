namespace BpfTraceSim.Kernel;

/// <summary>Which address space a pointer belongs to (the kernel's user/kernel split on x86_64).</summary>
public enum AddressSpace
{
    User = 0,
    Kernel = 1,
}

/// <summary>
/// Simulated memory: regions of bytes at fixed addresses in a user half and a kernel half, as
/// copy_from_kernel_nofault / copy_from_user_nofault see them. Nothing is mapped below 0x10000
/// or at non-canonical addresses, so such pointers read as faults.
/// </summary>
public sealed class SimMemory
{
    public const ulong UserBase = 0x0000_7f00_0000_0000UL;
    public const ulong KernelBase = 0xffff_8880_0000_0000UL;
    /// <summary>An address no region is ever placed at (non-canonical), for "bad pointer" arguments.</summary>
    public const ulong BadAddress = 0x0000_dead_0000_0000UL;
    private const ulong Guard = 0x1000; // unmapped gap between regions, so overruns fault

    private readonly List<Region> _regions = new(); // sorted by Start
    private ulong _nextUser = UserBase;
    private ulong _nextKernel = KernelBase;

    public sealed class Region
    {
        internal Region(ulong start, byte[] bytes, AddressSpace space, bool writable)
        {
            Start = start;
            Bytes = bytes;
            Space = space;
            Writable = writable;
        }

        public ulong Start { get; }
        public byte[] Bytes { get; }
        public AddressSpace Space { get; }
        public bool Writable { get; }
        public ulong End => Start + (ulong)Bytes.Length;
    }

    public static AddressSpace SpaceOf(ulong addr) => addr >= 0xffff_8000_0000_0000UL ? AddressSpace.Kernel : AddressSpace.User;

    /// <summary>Places bytes at a fresh address of the given space and returns it.</summary>
    public ulong Map(AddressSpace space, byte[] bytes, bool writable = true)
    {
        ulong size = (ulong)Math.Max(bytes.Length, 1);
        ref ulong next = ref space == AddressSpace.Kernel ? ref _nextKernel : ref _nextUser;
        ulong start = next;
        next = (start + size + Guard + 0xfff) & ~0xfffUL;
        Insert(new Region(start, bytes, space, writable));
        return start;
    }

    /// <summary>Places bytes at a fixed address (for objects whose address the caller chose).</summary>
    public Region MapAt(ulong start, byte[] bytes, bool writable = true)
    {
        var space = SpaceOf(start);
        if (start < 0x10000)
            throw new ArgumentOutOfRangeException(nameof(start), "nothing is mapped below 0x10000");
        var r = new Region(start, bytes, space, writable);
        foreach (var other in _regions)
        {
            if (start < other.End && other.Start < r.End)
                throw new ArgumentException($"region 0x{start:x} overlaps 0x{other.Start:x}");
        }
        Insert(r);
        return r;
    }

    private void Insert(Region r)
    {
        int i = 0;
        while (i < _regions.Count && _regions[i].Start < r.Start) i++;
        _regions.Insert(i, r);
    }

    /// <summary>The region holding addr, or null.</summary>
    public Region? Find(ulong addr)
    {
        int lo = 0, hi = _regions.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            var r = _regions[mid];
            if (addr < r.Start) hi = mid - 1;
            else if (addr >= r.End) lo = mid + 1;
            else return r;
        }
        return null;
    }

    /// <summary>A view of len bytes at addr when they lie inside one region of the space; else false.</summary>
    public bool TryGetSpan(ulong addr, int len, AddressSpace space, out Span<byte> span)
    {
        span = default;
        var r = Find(addr);
        if (r is null || r.Space != space || len < 0) return false;
        ulong off = addr - r.Start;
        if (off + (ulong)len > (ulong)r.Bytes.Length) return false;
        span = r.Bytes.AsSpan((int)off, len);
        return true;
    }

    /// <summary>copy_from_{kernel,user}_nofault: all or nothing.</summary>
    public bool TryRead(ulong addr, Span<byte> dst, AddressSpace space)
    {
        if (!TryGetSpan(addr, dst.Length, space, out var src)) return false;
        src.CopyTo(dst);
        return true;
    }

    public bool TryWrite(ulong addr, ReadOnlySpan<byte> src, AddressSpace space)
    {
        var r = Find(addr);
        if (r is null || !r.Writable) return false;
        if (!TryGetSpan(addr, src.Length, space, out var dst)) return false;
        src.CopyTo(dst);
        return true;
    }

    /// <summary>
    /// strncpy_from_{kernel,user}_nofault: copies up to dst.Length bytes including the NUL. Returns the
    /// bytes copied including the NUL (dst.Length when cut, the last byte then forced to NUL), or
    /// -EFAULT when addr is unreadable in that space.
    /// </summary>
    public int ReadString(ulong addr, Span<byte> dst, AddressSpace space)
    {
        if (dst.Length == 0) return 0;
        var r = Find(addr);
        if (r is null || r.Space != space) return -Errno.EFAULT;
        int off = (int)(addr - r.Start);
        int avail = r.Bytes.Length - off;
        int n = Math.Min(avail, dst.Length);
        var src = r.Bytes.AsSpan(off, n);
        int nul = src.IndexOf((byte)0);
        if (nul >= 0)
        {
            src[..(nul + 1)].CopyTo(dst);
            return nul + 1;
        }
        if (n == dst.Length)
        {
            src[..(n - 1)].CopyTo(dst);
            dst[n - 1] = 0;
            return n;
        }
        // Ran off the region's end before a NUL: the kernel faults on the next page.
        return -Errno.EFAULT;
    }
}
