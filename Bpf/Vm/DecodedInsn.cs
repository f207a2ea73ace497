using System.Runtime.InteropServices;

namespace BpfTraceSim.Bpf.Vm;

/// <summary>
/// A pre-decoded instruction: the opcode byte (RFC 9669, or an internal code for variants the
/// raw opcode only tells apart by off/imm/src), registers, offset and a 64-bit immediate
/// (sign-extended imm, or the whole ld_imm64 constant already resolved).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct DecodedInsn
{
    public byte Op;
    public byte Dst;
    public byte Src;
    public byte Pad;
    public short Off;
    public short Pad2;
    public long Imm;
}

/// <summary>Internal opcodes (unused codes of class LD) for variants resolved at decode time.</summary>
internal static class IOp
{
    public const byte Filler = 0x00; // second slot of ld_imm64
    public const byte SDIV64K = 0x08, SDIV64X = 0x10, SMOD64K = 0x38, SMOD64X = 0x58;
    public const byte SDIV32K = 0x60, SDIV32X = 0x68, SMOD32K = 0x70, SMOD32X = 0x78;
    public const byte MOVSX64_8 = 0x80, MOVSX64_16 = 0x88, MOVSX64_32 = 0x90, MOVSX32_8 = 0x98, MOVSX32_16 = 0xa0;
    public const byte CALL_LOCAL = 0xa8;
    /// <summary>call bpf_loop (helper 181): the VM runs the callback subprogram itself (BpfVm.CallLoop).</summary>
    public const byte CALL_LOOP = 0xb0;
    /// <summary>call bpf_tail_call (helper 12): the VM runs the target program itself (BpfVm.TailCall).</summary>
    public const byte CALL_TAIL = 0xb8;
    public const byte LE16 = 0xc0, LE32 = 0xc8, NOP = 0xd0, BSWAP16 = 0xd8, BSWAP32 = 0xe0, BSWAP64 = 0xe8;
}
