using BpfTraceSim.Bpf.Isa;

namespace BpfTraceSim.Bpf.Vm;

/// <summary>
/// A loop the IL compiler may run without per-iteration checks (loop versioning, as optimizing
/// compilers clone a loop to drop its range checks). Two shapes, both one basic block of work:
/// the block [Head, Cond] ends with a jump back to Head (bottom-tested), or it ends with a jump out of
/// the loop followed by a `goto Head` (clang's usual form, End = Cond + 1). The loop continues on a
/// 64-bit unsigned or != comparison of an induction register, which the block writes once by a
/// constant step, with an immediate or a register the block does not write. The block has no call,
/// atomic, packet load or exit, and every memory access's address is r10 in its own frame or, per
/// iteration j, entry values of at most two registers + a constant + j * a constant (registers the
/// block does not write, induction registers and copies or sums of them).
/// On entry the compiled code computes the trip count from the registers; when it is exact (no wrap),
/// every address of every access over all iterations lies in one region, and the instruction limit
/// cannot be reached inside the loop, the unchecked copy runs; otherwise the ordinary code does, so
/// faults and counts stay those of the interpreter.
/// </summary>
internal sealed class BpfCountedLoop
{
    public required int Head { get; init; }
    /// <summary>The conditional jump that ends the block.</summary>
    public required int Cond { get; init; }
    /// <summary>The back edge: Cond itself, or the `goto Head` after it.</summary>
    public required int End { get; init; }
    /// <summary>Where the loop goes when it ends.</summary>
    public required int Exit { get; init; }
    /// <summary>The comparison that continues the loop (Cond's, negated when Cond jumps out).</summary>
    public required int ContinueOp { get; init; }
    public required int Iv { get; init; }
    /// <summary>Added to the induction register once per iteration (nonzero, |step| &lt; 2^31).</summary>
    public required long Step { get; init; }
    /// <summary>Memory accesses checked once on entry (r10 frame accesses need no check).</summary>
    public required List<Access> Accesses { get; init; }

    /// <summary>
    /// An access whose address in iteration j is entry(A) + entry(B) + C + j * S (A, B registers or -1),
    /// offset included.
    /// </summary>
    public readonly record struct Access(int Pc, int A, int B, long C, long S, int Size, bool Write);

    /// <summary>A register's value in the current iteration as entry values + constant + j * S; Known false: anything else.</summary>
    private readonly record struct Form(bool Known, int A, int B, long C, long S)
    {
        public static readonly Form Unknown = new(false, -1, -1, 0, 0);
        public static Form Const(long c) => new(true, -1, -1, c, 0);
        public Form Plus(long c) => Known ? this with { C = unchecked(C + c) } : Unknown;
        public Form Plus(Form o)
        {
            if (!Known || !o.Known) return Unknown;
            var regs = new List<int>(4);
            foreach (int r in new[] { A, B, o.A, o.B }) if (r >= 0) regs.Add(r);
            if (regs.Count > 2) return Unknown;
            long s = S + o.S; // each |S| < 2^32: no overflow
            if (Math.Abs(s) > uint.MaxValue) return Unknown;
            return new(true, regs.Count > 0 ? regs[0] : -1, regs.Count > 1 ? regs[1] : -1, unchecked(C + o.C), s);
        }
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

    private static bool IsStep(in DecodedInsn d) => d.Op == (Op.ALU64 | Op.ADD | Op.K) || d.Op == (Op.ALU64 | Op.SUB | Op.K);

    /// <summary>The comparison that continues the loop when the jump is not taken, or -1.</summary>
    private static int Negate(int jop) => jop switch
    {
        Op.JEQ => Op.JNE,
        Op.JGE => Op.JLT,
        Op.JGT => Op.JLE,
        Op.JLT => Op.JGE,
        Op.JLE => Op.JGT,
        _ => -1,
    };

    /// <summary>
    /// The loop whose block is [head, cond] (cond the block's last instruction), or null.
    /// frameAccess tells which r10 accesses the compiler already emits without a check.
    /// </summary>
    public static BpfCountedLoop? Find(DecodedInsn[] code, int head, int cond, Func<int, short, int, bool> frameAccess)
    {
        var j = code[cond];
        if ((j.Op & 7) != Op.JMP) return null;
        int jop = j.Op & 0xf0, target = cond + 1 + j.Off, end, exit, cont;
        if (target == head) { end = cond; exit = cond + 1; cont = jop; }
        else
        {
            // if (cond) goto out; goto head;
            if (target <= cond + 1 || cond + 1 >= code.Length) return null;
            var back = code[cond + 1];
            if (back.Op != (Op.JMP | Op.JA) || cond + 2 + back.Off != head) return null;
            end = cond + 1; exit = target; cont = Negate(jop);
        }
        if (cont is not (Op.JLT or Op.JLE or Op.JNE or Op.JGT or Op.JGE)) return null;
        int iv = j.Dst;
        bool x = (j.Op & Op.X) != 0;
        if (x && j.Src == iv) return null;

        // which registers the block writes, and how often; the induction registers: written once, by a step
        var written = new int[11];
        var stepOf = new long[11];
        for (int pc = head; pc < cond; pc++)
        {
            var d = code[pc];
            if (!Writes(d, out int w)) return null;
            if (w >= 0)
            {
                written[w]++;
                stepOf[w] = IsStep(d) ? (d.Op == (Op.ALU64 | Op.ADD | Op.K) ? d.Imm : -d.Imm) : 0;
            }
            if (d.Op == Op.LDDW) pc++;
        }
        bool IsIv(int r) => written[r] == 1 && stepOf[r] != 0 && Math.Abs(stepOf[r]) <= int.MaxValue;
        if (!IsIv(iv)) return null;
        if (x && written[j.Src] != 0) return null;
        long step = stepOf[iv];
        // counting up ends at a < / <= / != bound, counting down at a > / >= / != bound
        if (step > 0 && cont is Op.JGT or Op.JGE) return null;
        if (step < 0 && cont is Op.JLT or Op.JLE) return null;

        // follow each register through one iteration (see Form)
        var f = new Form[11];
        for (int r = 0; r < 11; r++)
            f[r] = written[r] == 0 ? new Form(true, r, -1, 0, 0) : IsIv(r) ? new Form(true, r, -1, 0, stepOf[r]) : Form.Unknown;
        var accesses = new List<Access>();
        for (int pc = head; pc < cond; pc++)
        {
            var d = code[pc];
            int cls = d.Op & 7;
            if (cls is Op.LDX or Op.ST or Op.STX)
            {
                bool write = cls != Op.LDX;
                int reg = write ? d.Dst : d.Src, size = Op.SizeBytes(d.Op);
                if (!(reg == 10 && frameAccess(reg, d.Off, size)))
                {
                    var a = f[reg].Plus(d.Off);
                    if (!a.Known) return null;
                    accesses.Add(new Access(pc, a.A, a.B, a.C, a.S, size, write));
                }
            }
            if (!Writes(d, out int w) || w < 0) continue;
            f[w] = d.Op switch
            {
                Op.ALU64 | Op.MOV | Op.X => f[d.Src],
                Op.ALU64 | Op.MOV | Op.K => Form.Const(d.Imm),
                Op.ALU64 | Op.ADD | Op.K => f[w].Plus(d.Imm),
                Op.ALU64 | Op.SUB | Op.K => f[w].Plus(unchecked(-d.Imm)),
                Op.ALU64 | Op.ADD | Op.X => f[w].Plus(f[d.Src]),
                Op.LDDW => Form.Const(d.Imm),
                _ => Form.Unknown,
            };
            if (d.Op == Op.LDDW) pc++;
        }
        return new BpfCountedLoop { Head = head, Cond = cond, End = end, Exit = exit, ContinueOp = cont, Iv = iv, Step = step, Accesses = accesses };
    }
}
