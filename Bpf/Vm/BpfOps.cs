using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using BpfTraceSim.Bpf.Isa;

namespace BpfTraceSim.Bpf.Vm;

/// <summary>
/// The ISA's arithmetic corner cases in one place, shared by the interpreter and the IL compiler
/// so both give the same answer: division by zero is 0, modulo by zero keeps the dividend,
/// INT_MIN / -1 wraps, 32-bit results are zero-extended.
/// </summary>
public static unsafe class BpfOps
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Div64(ulong a, ulong b) => b == 0 ? 0 : a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mod64(ulong a, ulong b) => b == 0 ? a : a % b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong SDiv64(ulong a, ulong b) =>
        b == 0 ? 0 : (long)b == -1 ? (ulong)(0 - (long)a) : (ulong)((long)a / (long)b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong SMod64(ulong a, ulong b) =>
        b == 0 ? a : (long)b == -1 ? 0 : (ulong)((long)a % (long)b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Div32(ulong a, ulong b) => (uint)b == 0 ? 0 : (uint)a / (uint)b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mod32(ulong a, ulong b) => (uint)b == 0 ? (uint)a : (uint)a % (uint)b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong SDiv32(ulong a, ulong b) =>
        (uint)b == 0 ? 0 : (int)b == -1 ? (uint)(0 - (int)a) : (uint)((int)a / (int)b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong SMod32(ulong a, ulong b) =>
        (uint)b == 0 ? (uint)a : (int)b == -1 ? 0 : (uint)((int)a % (int)b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Bswap16(ulong a) => BinaryPrimitives.ReverseEndianness((ushort)a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Bswap32(ulong a) => BinaryPrimitives.ReverseEndianness((uint)a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Bswap64(ulong a) => BinaryPrimitives.ReverseEndianness(a);

    /// <summary>
    /// Atomic operation on p (size 4 or 8): ADD/OR/AND/XOR (with FETCH: src gets the old value),
    /// XCHG (src gets the old value), CMPXCHG (compares with r0, r0 gets the old value).
    /// 32-bit old values are zero-extended.
    /// </summary>
    public static void Atomic(byte* p, int size, int op, ref ulong src, ref ulong r0)
    {
        ulong old = size == 8 ? Unsafe.ReadUnaligned<ulong>(p) : Unsafe.ReadUnaligned<uint>(p);
        ulong s = src, nv;
        switch (op & ~Op.FETCH)
        {
            case Op.ADD: nv = old + s; break;
            case Op.OR: nv = old | s; break;
            case Op.AND: nv = old & s; break;
            case Op.XOR: nv = old ^ s; break;
            case 0xe0: nv = s; break; // XCHG
            case 0xf0: // CMPXCHG
                nv = (size == 8 ? old == r0 : (uint)old == (uint)r0) ? s : old;
                break;
            default: throw new InvalidOperationException("bad atomic op");
        }
        if (size == 8) Unsafe.WriteUnaligned(p, nv);
        else Unsafe.WriteUnaligned(p, (uint)nv);
        if (op == Op.CMPXCHG) r0 = old;
        else if ((op & Op.FETCH) != 0) src = old;
    }

    /// <summary>Legacy LD_ABS/LD_IND: big-endian read from the packet (the context copy); false when out of bounds.</summary>
    public static bool LoadPacket(byte* pkt, int pktLen, long off, int size, out ulong value)
    {
        value = 0;
        if (off < 0 || off + size > pktLen) return false;
        byte* p = pkt + off;
        value = size switch
        {
            1 => *p,
            2 => BinaryPrimitives.ReverseEndianness(Unsafe.ReadUnaligned<ushort>(p)),
            _ => BinaryPrimitives.ReverseEndianness(Unsafe.ReadUnaligned<uint>(p)),
        };
        return true;
    }
}
