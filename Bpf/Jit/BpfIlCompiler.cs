using System.Reflection;
using System.Reflection.Emit;
using BpfTraceSim.Bpf.Isa;

namespace BpfTraceSim.Bpf.Vm;

/// <summary>What a compiled program reports besides r0.</summary>
public struct BpfCompiledState
{
    public ulong Count;
}

/// <summary>Signature of a compiled program: (vm, r1, r2, r10, state) -> r0.</summary>
public delegate ulong BpfCompiledEntry(BpfVm vm, ulong r1, ulong r2, ulong r10, ref BpfCompiledState state);

/// <summary>A program compiled to a DynamicMethod.</summary>
public sealed class BpfCompiledProgram
{
    internal BpfCompiledProgram(BpfCompiledEntry entry) => Entry = entry;
    public BpfCompiledEntry Entry { get; }
}

/// <summary>
/// Compiles a VM's pre-decoded program to IL: registers are locals, each basic block adds its
/// length to the instruction count on entry (faults and early exits correct it to the exact
/// instruction), the stack fast path is inlined and everything else calls the same VM methods
/// and <see cref="BpfOps"/> the interpreter uses, so faults and results are identical.
/// </summary>
internal static unsafe class BpfIlCompiler
{
    private const int TotalStack = BpfVm.StackSize * BpfVm.MaxFrames;
    private static readonly FieldInfo CountField = typeof(BpfCompiledState).GetField(nameof(BpfCompiledState.Count))!;
    private static readonly MethodInfo LoadSlowM = M(nameof(BpfVm.LoadSlow));
    private static readonly MethodInfo StoreSlowM = M(nameof(BpfVm.StoreSlow));
    private static readonly MethodInfo AtomicPtrM = M(nameof(BpfVm.AtomicPtr));
    private static readonly MethodInfo CallHelperM = M(nameof(BpfVm.CallHelper));
    private static readonly MethodInfo CallxTargetM = M(nameof(BpfVm.CallxTarget));
    private static readonly MethodInfo PacketM = M(nameof(BpfVm.TryLoadPacket));
    private static readonly MethodInfo LimitFaultM = M(nameof(BpfVm.LimitFault));
    private static readonly MethodInfo DepthFaultM = M(nameof(BpfVm.DepthFault));
    private static readonly MethodInfo InvalidM = M(nameof(BpfVm.InvalidOpcodeFault));
    private static readonly MethodInfo AtomicM = typeof(BpfOps).GetMethod(nameof(BpfOps.Atomic))!;

    private static MethodInfo M(string name) =>
        typeof(BpfVm).GetMethod(name, BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)
        ?? throw new MissingMethodException(nameof(BpfVm), name);

    private static MethodInfo Ops(string name) => typeof(BpfOps).GetMethod(name)!;

    public static BpfCompiledProgram Compile(BpfVm vm)
    {
        var code = vm.Code;
        int n = code.Length;
        var dm = new DynamicMethod("bpf_" + vm.Program.Name, typeof(ulong),
            [typeof(BpfVm), typeof(ulong), typeof(ulong), typeof(ulong), typeof(BpfCompiledState).MakeByRefType()],
            typeof(BpfVm).Module, skipVisibility: true);
        var il = dm.GetILGenerator();

        // ---- basic blocks ----
        var leader = new bool[n + 1];
        leader[0] = true;
        var returnSites = new List<int>();
        bool hasCallx = false;
        for (int pc = 0; pc < n; pc++)
        {
            var d = code[pc];
            int cls = d.Op & 7;
            if (d.Op == 0x18)
            {
                if ((ulong)d.Imm - BpfVm.CodeBase < (ulong)n * 8 && (d.Imm & 7) == 0) leader[((ulong)d.Imm - BpfVm.CodeBase) / 8] = true;
                pc++;
                continue;
            }
            if (d.Op == 0x85) continue; // helper calls do not end a block
            if (d.Op == IOp.CALL_LOCAL || d.Op == 0x8d)
            {
                if (d.Op == IOp.CALL_LOCAL) leader[pc + 1 + d.Imm] = true;
                else hasCallx = true;
                leader[pc + 1] = true;
                returnSites.Add(pc + 1);
                continue;
            }
            if (cls is Op.JMP or Op.JMP32)
            {
                leader[pc + 1] = true;
                if (d.Op == 0x06) leader[pc + 1 + d.Imm] = true;
                else if (d.Op != 0x95) leader[pc + 1 + d.Off] = true;
            }
        }
        var blockStart = new int[n];
        var blockLen = new int[n + 1];
        {
            int start = 0;
            for (int pc = 0; pc <= n; pc++)
            {
                if (pc == n || (leader[pc] && pc != start))
                {
                    // count executed instructions (ld_imm64 is one) in [start, pc)
                    int c = 0;
                    for (int k = start; k < pc; k++) if (code[k].Op != IOp.Filler || k == 0 || code[k - 1].Op != 0x18) c++;
                    blockLen[start] = c;
                    start = pc;
                }
                if (pc < n) blockStart[pc] = start;
            }
        }
        // instructions executed in pc's block up to and including pc
        int UpTo(int pc)
        {
            int c = 0;
            for (int k = blockStart[pc]; k <= pc; k++) if (!(k > 0 && code[k - 1].Op == 0x18 && code[k].Op == IOp.Filler)) c++;
            return c;
        }

        var labels = new Label[n + 1];
        for (int i = 0; i <= n; i++) labels[i] = il.DefineLabel();

        // ---- locals ----
        var r = new LocalBuilder[11];
        for (int i = 0; i < 11; i++) r[i] = il.DeclareLocal(typeof(ulong));
        var count = il.DeclareLocal(typeof(ulong));
        var max = il.DeclareLocal(typeof(ulong));
        var stackBase = il.DeclareLocal(typeof(ulong));
        var stackPtr = il.DeclareLocal(typeof(byte*));
        var addr = il.DeclareLocal(typeof(ulong));
        var off = il.DeclareLocal(typeof(ulong));
        var frames = il.DeclareLocal(typeof(ulong*));
        var depth = il.DeclareLocal(typeof(int));
        var fp = il.DeclareLocal(typeof(ulong*));
        var tmpS = il.DeclareLocal(typeof(ulong));
        var tmp0 = il.DeclareLocal(typeof(ulong));
        var tgt = il.DeclareLocal(typeof(int));

        // ---- prologue ----
        il.Emit(OpCodes.Ldarg_1); il.Emit(OpCodes.Stloc, r[1]);
        il.Emit(OpCodes.Ldarg_2); il.Emit(OpCodes.Stloc, r[2]);
        il.Emit(OpCodes.Ldarg_3); il.Emit(OpCodes.Stloc, r[10]);
        il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Call, typeof(BpfVm).GetProperty(nameof(BpfVm.MaxInstructions))!.GetMethod!); il.Emit(OpCodes.Stloc, max);
        il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Call, typeof(BpfVm).GetProperty(nameof(BpfVm.StackBase))!.GetMethod!); il.Emit(OpCodes.Stloc, stackBase);
        il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldfld, typeof(BpfVm).GetField(nameof(BpfVm.StackPtr), BindingFlags.Instance | BindingFlags.NonPublic)!); il.Emit(OpCodes.Stloc, stackPtr);
        if (returnSites.Count > 0)
        {
            il.Emit(OpCodes.Ldc_I4, BpfVm.MaxFrames * 6 * 8);
            il.Emit(OpCodes.Conv_U);
            il.Emit(OpCodes.Localloc);
            il.Emit(OpCodes.Stloc, frames);
        }

        void CountAt(int pc)
        {
            // exact count at pc: count already includes the whole block
            il.Emit(OpCodes.Ldloc, count);
            int adj = UpTo(pc) - blockLen[blockStart[pc]];
            if (adj != 0) { il.Emit(OpCodes.Ldc_I8, (long)adj); il.Emit(OpCodes.Add); }
        }
        void LimitCheck(int pc)
        {
            var ok = il.DefineLabel();
            il.Emit(OpCodes.Ldloc, count); il.Emit(OpCodes.Ldloc, max); il.Emit(OpCodes.Ble_Un, ok);
            il.Emit(OpCodes.Ldc_I4, pc); il.Emit(OpCodes.Ldloc, count); il.Emit(OpCodes.Ldloc, max);
            il.Emit(OpCodes.Call, LimitFaultM); il.Emit(OpCodes.Throw);
            il.MarkLabel(ok);
        }
        void Jump(int pc, int target)
        {
            if (target <= pc) LimitCheck(pc);
            il.Emit(OpCodes.Br, labels[target]);
        }
        void Ld(int reg) => il.Emit(OpCodes.Ldloc, r[reg]);
        void St(int reg) => il.Emit(OpCodes.Stloc, r[reg]);
        void Imm64(long v) => il.Emit(OpCodes.Ldc_I8, v);

        void PushFrame(int pc)
        {
            var ok = il.DefineLabel();
            il.Emit(OpCodes.Ldloc, depth); il.Emit(OpCodes.Ldc_I4, BpfVm.MaxFrames - 1); il.Emit(OpCodes.Blt, ok);
            il.Emit(OpCodes.Ldc_I4, pc); CountAt(pc); il.Emit(OpCodes.Call, DepthFaultM); il.Emit(OpCodes.Throw);
            il.MarkLabel(ok);
            il.Emit(OpCodes.Ldloc, frames); il.Emit(OpCodes.Ldloc, depth); il.Emit(OpCodes.Ldc_I4, 48); il.Emit(OpCodes.Mul); il.Emit(OpCodes.Add); il.Emit(OpCodes.Stloc, fp);
            void Put(int slot, Action value)
            {
                il.Emit(OpCodes.Ldloc, fp); if (slot > 0) { il.Emit(OpCodes.Ldc_I4, slot * 8); il.Emit(OpCodes.Add); }
                value(); il.Emit(OpCodes.Stind_I8);
            }
            Put(0, () => Imm64(returnSites.IndexOf(pc + 1)));
            Put(1, () => Ld(6)); Put(2, () => Ld(7)); Put(3, () => Ld(8)); Put(4, () => Ld(9)); Put(5, () => Ld(10));
            il.Emit(OpCodes.Ldloc, depth); il.Emit(OpCodes.Ldc_I4_1); il.Emit(OpCodes.Add); il.Emit(OpCodes.Stloc, depth);
            Ld(10); Imm64(BpfVm.StackSize); il.Emit(OpCodes.Sub); St(10);
        }

        Label[]? pcSwitch = null;
        Label badCallx = il.DefineLabel();
        if (hasCallx)
        {
            pcSwitch = new Label[n];
            for (int i = 0; i < n; i++) pcSwitch[i] = leader[i] ? labels[i] : badCallx;
        }

        // ---- body ----
        for (int pc = 0; pc < n; pc++)
        {
            var d = code[pc];
            il.MarkLabel(labels[pc]);
            if (leader[pc] && blockLen[pc] > 0)
            {
                il.Emit(OpCodes.Ldloc, count); Imm64(blockLen[pc]); il.Emit(OpCodes.Add); il.Emit(OpCodes.Stloc, count);
            }
            int dst = d.Dst, src = d.Src;
            byte op = d.Op;
            int cls = op & 7;

            // ALU
            if ((cls == Op.ALU64 || cls == Op.ALU) && op != 0xd4 && op != 0xdc && op != 0xd7)
            {
                bool is64 = cls == Op.ALU64;
                bool x = (op & Op.X) != 0;
                int aop = op & 0xf0;
                void Src()
                {
                    if (x) Ld(src); else Imm64(d.Imm);
                    if (!is64) il.Emit(OpCodes.Conv_U4);
                }
                void DstV()
                {
                    Ld(dst);
                    if (!is64) il.Emit(OpCodes.Conv_U4);
                }
                void Done()
                {
                    if (!is64) il.Emit(OpCodes.Conv_U8);
                    St(dst);
                }
                switch (aop)
                {
                    case Op.ADD: DstV(); Src(); il.Emit(OpCodes.Add); Done(); break;
                    case Op.SUB: DstV(); Src(); il.Emit(OpCodes.Sub); Done(); break;
                    case Op.MUL: DstV(); Src(); il.Emit(OpCodes.Mul); Done(); break;
                    case Op.OR: DstV(); Src(); il.Emit(OpCodes.Or); Done(); break;
                    case Op.AND: DstV(); Src(); il.Emit(OpCodes.And); Done(); break;
                    case Op.XOR: DstV(); Src(); il.Emit(OpCodes.Xor); Done(); break;
                    case Op.MOV:
                        if (x) Ld(src); else Imm64(d.Imm);
                        if (!is64) { il.Emit(OpCodes.Conv_U4); il.Emit(OpCodes.Conv_U8); }
                        St(dst);
                        break;
                    case Op.LSH or Op.RSH or Op.ARSH:
                    {
                        DstV();
                        if (aop == Op.ARSH && !is64) il.Emit(OpCodes.Conv_I4);
                        if (x) { Ld(src); il.Emit(OpCodes.Conv_I4); il.Emit(OpCodes.Ldc_I4, is64 ? 63 : 31); il.Emit(OpCodes.And); }
                        else il.Emit(OpCodes.Ldc_I4, (int)(d.Imm & (is64 ? 63 : 31)));
                        il.Emit(aop == Op.LSH ? OpCodes.Shl : aop == Op.RSH ? OpCodes.Shr_Un : OpCodes.Shr);
                        Done();
                        break;
                    }
                    case Op.NEG:
                        DstV(); il.Emit(OpCodes.Neg); Done(); break;
                    case Op.DIV or Op.MOD:
                        Ld(dst); if (x) Ld(src); else Imm64(d.Imm);
                        il.Emit(OpCodes.Call, Ops((aop == Op.DIV ? "Div" : "Mod") + (is64 ? "64" : "32")));
                        St(dst);
                        break;
                    default: throw new InvalidOperationException($"ALU op 0x{op:x2}");
                }
                continue;
            }

            switch (op)
            {
                case IOp.SDIV64K or IOp.SDIV64X or IOp.SMOD64K or IOp.SMOD64X or IOp.SDIV32K or IOp.SDIV32X or IOp.SMOD32K or IOp.SMOD32X:
                {
                    bool x = op is IOp.SDIV64X or IOp.SMOD64X or IOp.SDIV32X or IOp.SMOD32X;
                    string name = op switch
                    {
                        IOp.SDIV64K or IOp.SDIV64X => "SDiv64", IOp.SMOD64K or IOp.SMOD64X => "SMod64",
                        IOp.SDIV32K or IOp.SDIV32X => "SDiv32", _ => "SMod32",
                    };
                    Ld(dst); if (x) Ld(src); else Imm64(d.Imm);
                    il.Emit(OpCodes.Call, Ops(name)); St(dst);
                    break;
                }
                case IOp.MOVSX64_8: Ld(src); il.Emit(OpCodes.Conv_I1); il.Emit(OpCodes.Conv_I8); St(dst); break;
                case IOp.MOVSX64_16: Ld(src); il.Emit(OpCodes.Conv_I2); il.Emit(OpCodes.Conv_I8); St(dst); break;
                case IOp.MOVSX64_32: Ld(src); il.Emit(OpCodes.Conv_I4); il.Emit(OpCodes.Conv_I8); St(dst); break;
                case IOp.MOVSX32_8: Ld(src); il.Emit(OpCodes.Conv_I1); il.Emit(OpCodes.Conv_U8); St(dst); break;
                case IOp.MOVSX32_16: Ld(src); il.Emit(OpCodes.Conv_I2); il.Emit(OpCodes.Conv_U8); St(dst); break;
                case IOp.LE16: Ld(dst); il.Emit(OpCodes.Conv_U2); il.Emit(OpCodes.Conv_U8); St(dst); break;
                case IOp.LE32: Ld(dst); il.Emit(OpCodes.Conv_U4); il.Emit(OpCodes.Conv_U8); St(dst); break;
                case IOp.NOP: break;
                case IOp.BSWAP16: Ld(dst); il.Emit(OpCodes.Call, Ops(nameof(BpfOps.Bswap16))); St(dst); break;
                case IOp.BSWAP32: Ld(dst); il.Emit(OpCodes.Call, Ops(nameof(BpfOps.Bswap32))); St(dst); break;
                case IOp.BSWAP64: Ld(dst); il.Emit(OpCodes.Call, Ops(nameof(BpfOps.Bswap64))); St(dst); break;

                case 0x18:
                    Imm64(d.Imm); St(dst);
                    pc++;
                    il.MarkLabel(labels[pc]);
                    break;

                case 0x20 or 0x28 or 0x30 or 0x40 or 0x48 or 0x50:
                {
                    int size = Op.SizeBytes(op);
                    var ok = il.DefineLabel();
                    il.Emit(OpCodes.Ldarg_0);
                    if ((op & Op.IND) != 0) { Ld(src); il.Emit(OpCodes.Conv_U4); il.Emit(OpCodes.Ldc_I4, (int)d.Imm); il.Emit(OpCodes.Add); il.Emit(OpCodes.Conv_I8); }
                    else Imm64((int)d.Imm);
                    il.Emit(OpCodes.Ldc_I4, size);
                    il.Emit(OpCodes.Ldloca, tmp0);
                    il.Emit(OpCodes.Call, PacketM);
                    il.Emit(OpCodes.Brtrue, ok);
                    il.Emit(OpCodes.Ldarg, 4); CountAt(pc); il.Emit(OpCodes.Stfld, CountField);
                    il.Emit(OpCodes.Ldc_I8, 0L); il.Emit(OpCodes.Ret);
                    il.MarkLabel(ok);
                    il.Emit(OpCodes.Ldloc, tmp0); St(0);
                    break;
                }

                case 0x61 or 0x69 or 0x71 or 0x79 or 0x81 or 0x89 or 0x91:
                {
                    int size = Op.SizeBytes(op);
                    bool sx = (op & 0xe0) == Op.MEMSX;
                    var slow = il.DefineLabel();
                    var done = il.DefineLabel();
                    Ld(src); Imm64(d.Off); il.Emit(OpCodes.Add); il.Emit(OpCodes.Stloc, addr);
                    il.Emit(OpCodes.Ldloc, addr); il.Emit(OpCodes.Ldloc, stackBase); il.Emit(OpCodes.Sub); il.Emit(OpCodes.Stloc, off);
                    il.Emit(OpCodes.Ldloc, off); Imm64(TotalStack - size); il.Emit(OpCodes.Bgt_Un, slow);
                    il.Emit(OpCodes.Ldloc, stackPtr); il.Emit(OpCodes.Ldloc, off); il.Emit(OpCodes.Conv_U); il.Emit(OpCodes.Add);
                    switch (size)
                    {
                        case 1: il.Emit(OpCodes.Ldind_U1); il.Emit(OpCodes.Conv_U8); break;
                        case 2: il.Emit(OpCodes.Ldind_U2); il.Emit(OpCodes.Conv_U8); break;
                        case 4: il.Emit(OpCodes.Ldind_U4); il.Emit(OpCodes.Conv_U8); break;
                        default: il.Emit(OpCodes.Ldind_I8); break;
                    }
                    il.Emit(OpCodes.Br, done);
                    il.MarkLabel(slow);
                    il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldloc, addr); il.Emit(OpCodes.Ldc_I4, size); il.Emit(OpCodes.Ldc_I4, pc); CountAt(pc);
                    il.Emit(OpCodes.Call, LoadSlowM);
                    il.MarkLabel(done);
                    if (sx)
                    {
                        il.Emit(size switch { 1 => OpCodes.Conv_I1, 2 => OpCodes.Conv_I2, _ => OpCodes.Conv_I4 });
                        il.Emit(OpCodes.Conv_I8);
                    }
                    St(dst);
                    break;
                }

                case 0x62 or 0x6a or 0x72 or 0x7a or 0x63 or 0x6b or 0x73 or 0x7b:
                {
                    int size = Op.SizeBytes(op);
                    bool x = cls == Op.STX;
                    var slow = il.DefineLabel();
                    var done = il.DefineLabel();
                    void Val() { if (x) Ld(src); else Imm64(d.Imm); }
                    Ld(dst); Imm64(d.Off); il.Emit(OpCodes.Add); il.Emit(OpCodes.Stloc, addr);
                    il.Emit(OpCodes.Ldloc, addr); il.Emit(OpCodes.Ldloc, stackBase); il.Emit(OpCodes.Sub); il.Emit(OpCodes.Stloc, off);
                    il.Emit(OpCodes.Ldloc, off); Imm64(TotalStack - size); il.Emit(OpCodes.Bgt_Un, slow);
                    il.Emit(OpCodes.Ldloc, stackPtr); il.Emit(OpCodes.Ldloc, off); il.Emit(OpCodes.Conv_U); il.Emit(OpCodes.Add);
                    Val();
                    switch (size)
                    {
                        case 1: il.Emit(OpCodes.Conv_U1); il.Emit(OpCodes.Stind_I1); break;
                        case 2: il.Emit(OpCodes.Conv_U2); il.Emit(OpCodes.Stind_I2); break;
                        case 4: il.Emit(OpCodes.Conv_U4); il.Emit(OpCodes.Stind_I4); break;
                        default: il.Emit(OpCodes.Stind_I8); break;
                    }
                    il.Emit(OpCodes.Br, done);
                    il.MarkLabel(slow);
                    il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldloc, addr); il.Emit(OpCodes.Ldc_I4, size); Val(); il.Emit(OpCodes.Ldc_I4, pc); CountAt(pc);
                    il.Emit(OpCodes.Call, StoreSlowM);
                    il.MarkLabel(done);
                    break;
                }

                case 0xc3 or 0xdb:
                {
                    int size = op == 0xdb ? 8 : 4;
                    il.Emit(OpCodes.Ldarg_0); Ld(dst); Imm64(d.Off); il.Emit(OpCodes.Add); il.Emit(OpCodes.Ldc_I4, size); il.Emit(OpCodes.Ldc_I4, pc); CountAt(pc);
                    il.Emit(OpCodes.Call, AtomicPtrM);
                    Ld(src); il.Emit(OpCodes.Stloc, tmpS);
                    Ld(0); il.Emit(OpCodes.Stloc, tmp0);
                    il.Emit(OpCodes.Ldc_I4, size); il.Emit(OpCodes.Ldc_I4, (int)d.Imm);
                    il.Emit(OpCodes.Ldloca, tmpS); il.Emit(OpCodes.Ldloca, tmp0);
                    il.Emit(OpCodes.Call, AtomicM);
                    // src == 0 (r0) with CMPXCHG: r0 wins, as in the interpreter (src written first, then r0)
                    il.Emit(OpCodes.Ldloc, tmpS); St(src);
                    il.Emit(OpCodes.Ldloc, tmp0); St(0);
                    break;
                }

                case 0x85:
                    il.Emit(OpCodes.Ldarg_0); il.Emit(OpCodes.Ldc_I4, (int)d.Imm);
                    Ld(1); Ld(2); Ld(3); Ld(4); Ld(5);
                    il.Emit(OpCodes.Ldc_I4, pc); CountAt(pc);
                    il.Emit(OpCodes.Call, CallHelperM); St(0);
                    break;

                case IOp.CALL_LOCAL:
                    PushFrame(pc);
                    LimitCheck(pc);
                    il.Emit(OpCodes.Br, labels[pc + 1 + d.Imm]);
                    break;

                case 0x8d:
                {
                    var helper = il.DefineLabel();
                    il.Emit(OpCodes.Ldarg_0); Ld(dst); il.Emit(OpCodes.Ldc_I4, pc); CountAt(pc);
                    il.Emit(OpCodes.Call, CallxTargetM); il.Emit(OpCodes.Stloc, tgt);
                    il.Emit(OpCodes.Ldloc, tgt); il.Emit(OpCodes.Ldc_I4_0); il.Emit(OpCodes.Blt, helper);
                    PushFrame(pc);
                    LimitCheck(pc);
                    il.Emit(OpCodes.Ldloc, tgt); il.Emit(OpCodes.Switch, pcSwitch!); il.Emit(OpCodes.Br, badCallx);
                    il.MarkLabel(helper);
                    il.Emit(OpCodes.Ldarg_0); Ld(dst); il.Emit(OpCodes.Conv_I4);
                    Ld(1); Ld(2); Ld(3); Ld(4); Ld(5);
                    il.Emit(OpCodes.Ldc_I4, pc); CountAt(pc);
                    il.Emit(OpCodes.Call, CallHelperM); St(0);
                    break;
                }

                case 0x95:
                {
                    var ret = il.DefineLabel();
                    if (returnSites.Count > 0)
                    {
                        il.Emit(OpCodes.Ldloc, depth); il.Emit(OpCodes.Brfalse, ret);
                        il.Emit(OpCodes.Ldloc, depth); il.Emit(OpCodes.Ldc_I4_1); il.Emit(OpCodes.Sub); il.Emit(OpCodes.Stloc, depth);
                        il.Emit(OpCodes.Ldloc, frames); il.Emit(OpCodes.Ldloc, depth); il.Emit(OpCodes.Ldc_I4, 48); il.Emit(OpCodes.Mul); il.Emit(OpCodes.Add); il.Emit(OpCodes.Stloc, fp);
                        for (int k = 1; k <= 5; k++)
                        {
                            il.Emit(OpCodes.Ldloc, fp); il.Emit(OpCodes.Ldc_I4, k * 8); il.Emit(OpCodes.Add); il.Emit(OpCodes.Ldind_I8); St(k + 5);
                        }
                        il.Emit(OpCodes.Ldloc, fp); il.Emit(OpCodes.Ldind_I8); il.Emit(OpCodes.Conv_I4);
                        il.Emit(OpCodes.Switch, returnSites.Select(s => labels[s]).ToArray());
                        il.Emit(OpCodes.Br, ret); // unreachable
                    }
                    il.MarkLabel(ret);
                    il.Emit(OpCodes.Ldarg, 4); il.Emit(OpCodes.Ldloc, count); il.Emit(OpCodes.Stfld, CountField);
                    Ld(0); il.Emit(OpCodes.Ret);
                    break;
                }

                case 0x05: Jump(pc, pc + 1 + d.Off); break;
                case 0x06: Jump(pc, pc + 1 + (int)d.Imm); break;

                default:
                    if (cls is Op.JMP or Op.JMP32)
                    {
                        EmitCondJump(il, d, cls == Op.JMP32, Ld, Imm64, pc, labels, Jump);
                        break;
                    }
                    il.Emit(OpCodes.Ldc_I4, pc); il.Emit(OpCodes.Ldc_I4, (int)op); CountAt(pc); il.Emit(OpCodes.Call, InvalidM); il.Emit(OpCodes.Throw);
                    break;
            }
        }
        il.MarkLabel(labels[n]);
        // falling off the end is refused at load; keep the IL verifiable anyway
        il.Emit(OpCodes.Ldc_I4, n - 1); il.Emit(OpCodes.Ldc_I4, 0); il.Emit(OpCodes.Ldloc, count); il.Emit(OpCodes.Call, InvalidM); il.Emit(OpCodes.Throw);
        il.MarkLabel(badCallx);
        il.Emit(OpCodes.Ldc_I4, -1); il.Emit(OpCodes.Ldc_I4, 0x8d); il.Emit(OpCodes.Ldloc, count); il.Emit(OpCodes.Call, InvalidM); il.Emit(OpCodes.Throw);

        return new BpfCompiledProgram(dm.CreateDelegate<BpfCompiledEntry>());
    }

    private static void EmitCondJump(ILGenerator il, DecodedInsn d, bool is32, Action<int> ld, Action<long> imm64, int pc, Label[] labels, Action<int, int> jump)
    {
        int jop = d.Op & 0xf0;
        bool x = (d.Op & Op.X) != 0;
        bool signed = jop is Op.JSGT or Op.JSGE or Op.JSLT or Op.JSLE;
        void Operand(Action load)
        {
            load();
            if (is32) il.Emit(signed ? OpCodes.Conv_I4 : OpCodes.Conv_U4);
        }
        Operand(() => ld(d.Dst));
        Operand(() => { if (x) ld(d.Src); else imm64(d.Imm); });
        var taken = il.DefineLabel();
        var fall = il.DefineLabel();
        switch (jop)
        {
            case Op.JEQ: il.Emit(OpCodes.Beq, taken); break;
            case Op.JNE: il.Emit(OpCodes.Bne_Un, taken); break;
            case Op.JGT: il.Emit(OpCodes.Bgt_Un, taken); break;
            case Op.JGE: il.Emit(OpCodes.Bge_Un, taken); break;
            case Op.JLT: il.Emit(OpCodes.Blt_Un, taken); break;
            case Op.JLE: il.Emit(OpCodes.Ble_Un, taken); break;
            case Op.JSGT: il.Emit(OpCodes.Bgt, taken); break;
            case Op.JSGE: il.Emit(OpCodes.Bge, taken); break;
            case Op.JSLT: il.Emit(OpCodes.Blt, taken); break;
            case Op.JSLE: il.Emit(OpCodes.Ble, taken); break;
            case Op.JSET:
                il.Emit(OpCodes.And);
                if (is32) il.Emit(OpCodes.Ldc_I4_0); else il.Emit(OpCodes.Ldc_I8, 0L);
                il.Emit(OpCodes.Bne_Un, taken);
                break;
            default: throw new InvalidOperationException($"jump op 0x{d.Op:x2}");
        }
        int target = pc + 1 + d.Off;
        if (target > pc)
        {
            // forward: branch straight to the target; `taken` is unused then
            il.Emit(OpCodes.Br, fall);
            il.MarkLabel(taken);
            il.Emit(OpCodes.Br, labels[target]);
            il.MarkLabel(fall);
            return;
        }
        il.Emit(OpCodes.Br, fall);
        il.MarkLabel(taken);
        jump(pc, target);
        il.MarkLabel(fall);
    }
}
