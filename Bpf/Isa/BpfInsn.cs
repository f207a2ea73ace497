using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace BpfTraceSim.Bpf.Isa;

/// <summary>Opcode fields of RFC 9669 (class, source, ALU/JMP operation, size, mode).</summary>
public static class Op
{
    // classes
    public const byte LD = 0x00, LDX = 0x01, ST = 0x02, STX = 0x03, ALU = 0x04, JMP = 0x05, JMP32 = 0x06, ALU64 = 0x07;
    // source
    public const byte K = 0x00, X = 0x08;
    // ALU operations (high nibble)
    public const byte ADD = 0x00, SUB = 0x10, MUL = 0x20, DIV = 0x30, OR = 0x40, AND = 0x50, LSH = 0x60, RSH = 0x70,
        NEG = 0x80, MOD = 0x90, XOR = 0xa0, MOV = 0xb0, ARSH = 0xc0, END = 0xd0;
    // JMP operations
    public const byte JA = 0x00, JEQ = 0x10, JGT = 0x20, JGE = 0x30, JSET = 0x40, JNE = 0x50, JSGT = 0x60, JSGE = 0x70,
        CALL = 0x80, EXIT = 0x90, JLT = 0xa0, JLE = 0xb0, JSLT = 0xc0, JSLE = 0xd0;
    // sizes
    public const byte W = 0x00, H = 0x08, B = 0x10, DW = 0x18;
    // modes
    public const byte IMM = 0x00, ABS = 0x20, IND = 0x40, MEM = 0x60, MEMSX = 0x80, ATOMIC = 0xc0;
    // atomic operations (imm)
    public const int FETCH = 0x01, XCHG = 0xe0 | FETCH, CMPXCHG = 0xf0 | FETCH;

    public const byte LDDW = LD | IMM | DW; // 0x18

    // ld_imm64 pseudo sources
    public const byte PSEUDO_MAP_FD = 1, PSEUDO_MAP_VALUE = 2, PSEUDO_BTF_ID = 3, PSEUDO_FUNC = 4,
        PSEUDO_MAP_IDX = 5, PSEUDO_MAP_IDX_VALUE = 6,
        // the loader's own: a typeless __ksym (imm = index in BpfObject.Ksyms), whose kallsyms address
        // libbpf would write into the instruction; the VM writes the simulated host's at instantiation
        PSEUDO_KSYM_IDX = 7;
    // call sources
    public const byte CALL_HELPER = 0, CALL_LOCAL = 1, CALL_KFUNC = 2;

    public static int Class(byte op) => op & 7;
    public static int SizeBytes(byte op) => (op & 0x18) switch { W => 4, H => 2, B => 1, _ => 8 };
}

/// <summary>One 8-byte instruction slot as stored in the ELF (little endian).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public readonly record struct BpfInsn(byte Opcode, byte Dst, byte Src, short Offset, int Imm)
{
    public const int Size = 8;

    public static BpfInsn Decode(ReadOnlySpan<byte> b) =>
        new(b[0], (byte)(b[1] & 0xf), (byte)(b[1] >> 4), BinaryPrimitives.ReadInt16LittleEndian(b[2..]),
            BinaryPrimitives.ReadInt32LittleEndian(b[4..]));

    public static BpfInsn[] DecodeAll(ReadOnlySpan<byte> code)
    {
        var r = new BpfInsn[code.Length / Size];
        for (int i = 0; i < r.Length; i++) r[i] = Decode(code.Slice(i * Size, Size));
        return r;
    }

    public void Encode(Span<byte> b)
    {
        b[0] = Opcode;
        b[1] = (byte)((Src << 4) | (Dst & 0xf));
        BinaryPrimitives.WriteInt16LittleEndian(b[2..], Offset);
        BinaryPrimitives.WriteInt32LittleEndian(b[4..], Imm);
    }

    public bool IsLdImm64 => Opcode == Op.LDDW;
    public bool IsCall => Opcode == (Op.JMP | Op.CALL);
    public bool IsHelperCall => IsCall && Src == Op.CALL_HELPER;

    public override string ToString() => $"op=0x{Opcode:x2} dst=r{Dst} src=r{Src} off={Offset} imm={Imm}";
}

/// <summary>Small assembler for hand-written programs (tests, tools): one method per instruction form.</summary>
public static class Asm
{
    public static BpfInsn Alu64Imm(byte op, int dst, int imm) => new((byte)(Op.ALU64 | Op.K | op), (byte)dst, 0, 0, imm);
    public static BpfInsn Alu64Reg(byte op, int dst, int src) => new((byte)(Op.ALU64 | Op.X | op), (byte)dst, (byte)src, 0, 0);
    public static BpfInsn Alu32Imm(byte op, int dst, int imm) => new((byte)(Op.ALU | Op.K | op), (byte)dst, 0, 0, imm);
    public static BpfInsn Alu32Reg(byte op, int dst, int src) => new((byte)(Op.ALU | Op.X | op), (byte)dst, (byte)src, 0, 0);
    public static BpfInsn Mov64(int dst, int imm) => Alu64Imm(Op.MOV, dst, imm);
    public static BpfInsn Mov64Reg(int dst, int src) => Alu64Reg(Op.MOV, dst, src);
    /// <summary>MOVSX (v4): off = 8, 16 or 32 source bits.</summary>
    public static BpfInsn MovSx64(int dst, int src, short bits) => new((byte)(Op.ALU64 | Op.X | Op.MOV), (byte)dst, (byte)src, bits, 0);
    public static BpfInsn MovSx32(int dst, int src, short bits) => new((byte)(Op.ALU | Op.X | Op.MOV), (byte)dst, (byte)src, bits, 0);
    /// <summary>SDIV/SMOD (v4): DIV/MOD with off = 1.</summary>
    public static BpfInsn Signed(BpfInsn i) => i with { Offset = 1 };
    public static BpfInsn Le(int dst, int bits) => new((byte)(Op.ALU | Op.END | Op.K), (byte)dst, 0, 0, bits);
    public static BpfInsn Be(int dst, int bits) => new((byte)(Op.ALU | Op.END | Op.X), (byte)dst, 0, 0, bits);
    public static BpfInsn Bswap(int dst, int bits) => new((byte)(Op.ALU64 | Op.END | Op.K), (byte)dst, 0, 0, bits);
    public static BpfInsn[] LdImm64(int dst, ulong v, byte pseudo = 0) =>
        [new(Op.LDDW, (byte)dst, pseudo, 0, (int)(uint)v), new(0, 0, 0, 0, (int)(uint)(v >> 32))];
    public static BpfInsn Ldx(byte size, int dst, int src, short off) => new((byte)(Op.LDX | Op.MEM | size), (byte)dst, (byte)src, off, 0);
    public static BpfInsn Ldsx(byte size, int dst, int src, short off) => new((byte)(Op.LDX | Op.MEMSX | size), (byte)dst, (byte)src, off, 0);
    public static BpfInsn Stx(byte size, int dst, int src, short off) => new((byte)(Op.STX | Op.MEM | size), (byte)dst, (byte)src, off, 0);
    public static BpfInsn St(byte size, int dst, short off, int imm) => new((byte)(Op.ST | Op.MEM | size), (byte)dst, 0, off, imm);
    public static BpfInsn Atomic(byte size, int dst, int src, short off, int aop) => new((byte)(Op.STX | Op.ATOMIC | size), (byte)dst, (byte)src, off, aop);
    public static BpfInsn JmpImm(byte op, int dst, int imm, short off) => new((byte)(Op.JMP | Op.K | op), (byte)dst, 0, off, imm);
    public static BpfInsn JmpReg(byte op, int dst, int src, short off) => new((byte)(Op.JMP | Op.X | op), (byte)dst, (byte)src, off, 0);
    public static BpfInsn Jmp32Imm(byte op, int dst, int imm, short off) => new((byte)(Op.JMP32 | Op.K | op), (byte)dst, 0, off, imm);
    public static BpfInsn Jmp32Reg(byte op, int dst, int src, short off) => new((byte)(Op.JMP32 | Op.X | op), (byte)dst, (byte)src, off, 0);
    public static BpfInsn Ja(short off) => new(Op.JMP | Op.JA, 0, 0, off, 0);
    /// <summary>gotol (v4): JMP32 class JA with the offset in imm.</summary>
    public static BpfInsn Gotol(int imm) => new(Op.JMP32 | Op.JA, 0, 0, 0, imm);
    public static BpfInsn Call(int helperId) => new(Op.JMP | Op.CALL, 0, Op.CALL_HELPER, 0, helperId);
    public static BpfInsn CallLocal(int rel) => new(Op.JMP | Op.CALL, 0, Op.CALL_LOCAL, 0, rel);
    /// <summary>callx: target in register dst (LLVM's encoding).</summary>
    public static BpfInsn CallX(int reg) => new(Op.JMP | Op.CALL | Op.X, (byte)reg, 0, 0, 0);
    public static BpfInsn Exit() => new(Op.JMP | Op.EXIT, 0, 0, 0, 0);
    public static BpfInsn LdAbs(byte size, int imm) => new((byte)(Op.LD | Op.ABS | size), 0, 0, 0, imm);
    public static BpfInsn LdInd(byte size, int src, int imm) => new((byte)(Op.LD | Op.IND | size), 0, (byte)src, 0, imm);

    public static byte[] Encode(IEnumerable<BpfInsn> insns)
    {
        var list = insns.ToList();
        var b = new byte[list.Count * BpfInsn.Size];
        for (int i = 0; i < list.Count; i++) list[i].Encode(b.AsSpan(i * BpfInsn.Size));
        return b;
    }
}
