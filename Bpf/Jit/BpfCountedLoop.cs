using BpfTraceSim.Bpf.Isa;

namespace BpfTraceSim.Bpf.Vm;

/// <summary>
/// A single-block loop the IL compiler may run without per-iteration checks: the block [Head, End]
/// ends with a 64-bit unsigned (or !=) jump back to Head on an induction register written once in the
/// block by a constant step, compared with a register the block does not write or an immediate; the
/// block has no call, atomic, packet load or exit, and every memory access's base is r10 in its own
/// frame, a register the block does not write, or the induction register. On entry the compiled code
/// computes the trip count from the registers; when it is exact (no wrap), every access of every
/// iteration lies in the context or the stack, and the instruction limit cannot be hit inside the
/// loop, a copy of the block without bounds checks, count updates or limit checks runs instead
/// (loop versioning, as optimizing compilers clone loops to drop range checks); otherwise the
/// ordinary code runs, so faults and counts stay those of the interpreter.
/// </summary>
internal sealed class BpfCountedLoop
{
    public required int Head { get; init; }
    /// <summary>The conditional jump back to Head.</summary>
    public required int End { get; init; }
    public required int Iv { get; init; }
    /// <summary>Added to the induction register once per iteration (nonzero).</summary>
    public required long Step { get; init; }
    public required int StepPc { get; init; }
    /// <summary>Memory accesses checked once on entry (r10 frame accesses need no check).</summary>
    public required List<Access> Accesses { get; init; }

    public readonly record struct Access(int Pc, int Base, short Off, int Size, bool Write)
    {
        public bool OnIv(BpfCountedLoop l) => Base == l.Iv;
    }

    /// <summary>The register written by an instruction the fast form may contain, -1 for none; false when it may not be in one.</summary>
    private static bool Writes(in DecodedInsn d, out int reg)
    {
        reg = -1;
        int cls = d.Op & 7, mode = d.Op & 0xe0;
        switch (cls)
        {
            case Op.ALU or Op.ALU64:
                if (d.Op == (Op.ALU | Op.END | Op.K) || d.Op == (Op.ALU | Op.END | Op.X) || d.Op == (Op.ALU64 | Op.END | Op.K)) return false;
                reg = d.Dst;
                return true;
            case Op.LDX:
                if (mode is not (Op.MEM or Op.MEMSX)) return false;
                reg = d.Dst;
                return true;
            case Op.ST or Op.STX:
                return mode == Op.MEM;
            case Op.LD:
                switch (d.Op)
                {
                    case Op.LDDW:
                    case IOp.SDIV64K or IOp.SDIV64X or IOp.SMOD64K or IOp.SMOD64X or IOp.SDIV32K or IOp.SDIV32X or IOp.SMOD32K or IOp.SMOD32X:
                    case IOp.MOVSX64_8 or IOp.MOVSX64_16 or IOp.MOVSX64_32 or IOp.MOVSX32_8 or IOp.MOVSX32_16:
                    case IOp.LE16 or IOp.LE32 or IOp.BSWAP16 or IOp.BSWAP32 or IOp.BSWAP64:
                        reg = d.Dst;
                        return true;
                    case IOp.NOP:
                        return true;
                    default:
                        return false;
                }
            default:
                return false;
        }
    }

    /// <summary>
    /// The loop of the block starting at head, or null. blockEnd is the block's last instruction;
    /// frameAccess tells which r10 accesses the compiler already emits without a check.
    /// </summary>
    public static BpfCountedLoop? Find(DecodedInsn[] code, int head, int blockEnd, Func<int, short, int, bool> frameAccess)
    {
        var j = code[blockEnd];
        if ((j.Op & 7) != Op.JMP || blockEnd + 1 + j.Off != head) return null;
        int jop = j.Op & 0xf0;
        if (jop is not (Op.JLT or Op.JLE or Op.JNE or Op.JGT or Op.JGE)) return null;
        int iv = j.Dst;
        bool x = (j.Op & Op.X) != 0;
        if (x && j.Src == iv) return null;

        var written = new int[11];
        int stepPc = -1;
        long step = 0;
        var accesses = new List<Access>();
        for (int pc = head; pc < blockEnd; pc++)
        {
            var d = code[pc];
            if (!Writes(d, out int w)) return null;
            if (w >= 0) written[w]++;
            if (w == iv && stepPc < 0 && (d.Op == (Op.ALU64 | Op.ADD | Op.K) || d.Op == (Op.ALU64 | Op.SUB | Op.K)))
            {
                stepPc = pc;
                step = d.Op == (Op.ALU64 | Op.ADD | Op.K) ? d.Imm : -d.Imm;
            }
            int cls = d.Op & 7;
            if (cls is Op.LDX or Op.ST or Op.STX)
            {
                bool write = cls != Op.LDX;
                int reg = write ? d.Dst : d.Src, size = Op.SizeBytes(d.Op);
                if (!(reg == 10 && frameAccess(reg, d.Off, size)))
                    accesses.Add(new Access(pc, reg, d.Off, size, write));
            }
            if (d.Op == Op.LDDW) pc++;
        }
        // the induction register written exactly once, by its step; the bound never
        if (stepPc < 0 || written[iv] != 1 || step == 0 || step < -int.MaxValue || step > int.MaxValue) return null;
        if (x && written[j.Src] != 0) return null;
        // counting up ends at a < / <= / != bound, counting down at a > / >= / != bound
        bool up = step > 0;
        if (up && jop is Op.JGT or Op.JGE) return null;
        if (!up && jop is Op.JLT or Op.JLE) return null;
        foreach (var a in accesses)
            if (a.Base != iv && written[a.Base] != 0) return null;
        return new BpfCountedLoop { Head = head, End = blockEnd, Iv = iv, Step = step, StepPc = stepPc, Accesses = accesses };
    }
}
