using BpfTraceSim.Kernel;
using System.Text;
using BpfTraceSim.Bpf.Btf;
using BpfTraceSim.Bpf.Isa;

namespace BpfTraceSim.Bpf.Loader;

/// <summary>Map types of the uapi enum bpf_map_type that the loader knows by number.</summary>
public enum BpfMapType
{
    Unspec = 0, Hash = 1, Array = 2, ProgArray = 3, PerfEventArray = 4, PercpuHash = 5, PercpuArray = 6,
    StackTrace = 7, CgroupArray = 8, LruHash = 9, LruPercpuHash = 10, LpmTrie = 11, ArrayOfMaps = 12,
    HashOfMaps = 13, RingBuf = 27,
}

/// <summary>A map as the object declares it (BTF-defined in .maps, or a global data section).</summary>
public sealed record BpfMapSpec(
    string Name, BpfMapType Type, int KeySize, int ValueSize, int MaxEntries, uint Flags)
{
    /// <summary>For .rodata/.data/.bss: the section's initial bytes (zeros for .bss).</summary>
    public byte[]? InitialValue { get; init; }
    /// <summary>.rodata*: frozen, the program may not write it.</summary>
    public bool ReadOnly { get; init; }
    public bool IsGlobalData => InitialValue is not null;
    /// <summary>BPF_MAP_TYPE_PROG_ARRAY: the slots the object fills at load (<c>.values = { [i] = &amp;prog }</c>), in relocation order.</summary>
    public IReadOnlyList<BpfProgSlot> ProgSlots { get; init; } = [];
}

/// <summary>One initial slot of a prog array: index and the program (function name) libbpf puts there.</summary>
public sealed record BpfProgSlot(int Index, string Program);

/// <summary>
/// A typeless kernel symbol the object references (<c>extern const void name __ksym;</c>, BTF VAR in
/// DATASEC .ksyms): libbpf resolves it from kallsyms before loading; weak ones may stay unresolved (0).
/// </summary>
public sealed record BpfKsym(string Name, bool Weak);

/// <summary>
/// A typed kernel variable the object references (<c>extern const struct rq runqueues __ksym;</c>):
/// libbpf resolves it to the kernel VAR's BTF id; the verifier then takes its kallsyms address and
/// types the register (PTR_TO_BTF_ID | MEM_PERCPU for a per-CPU variable).
/// </summary>
public sealed record BpfTypedKsym(string Name, int BtfId, bool PerCpu, string TypeName, bool IsStruct, long Size);

/// <summary>A global variable found by its BTF VAR name inside a DATASEC.</summary>
public sealed record BpfGlobal(string Name, int MapIndex, int Offset, int Size, string Section)
{
    /// <summary>An integer written into the variable at byte offset: little-endian, as many of its 8 bytes as fit (at least 1).</summary>
    public byte[] IntegerBytes(ulong value, int offset = 0)
    {
        var b = new byte[Math.Clamp(Size - offset, 1, 8)];
        for (int i = 0; i < b.Length; i++) b[i] = (byte)(value >> (8 * i));
        return b;
    }
}

/// <summary>A source position from .BTF.ext line info.</summary>
public readonly record struct BpfSourceLine(string File, int Line, string Text)
{
    public override string ToString() => $"{Path.GetFileName(File)}:{Line}";
}

/// <summary>A helper call site: instruction index and helper id.</summary>
public readonly record struct BpfHelperUse(int Insn, int HelperId);

/// <summary>
/// One program as libbpf would hand it to the kernel: the function's instructions followed by the
/// .text subprograms it may call, with map references rewritten to ld_imm64 "map by index"
/// pseudos (src 5 / 6) so the VM resolves them per instance.
/// </summary>
public sealed class BpfProgram
{
    internal BpfProgram(string name, string section, BpfInsn[] insns, BpfSourceLine?[] lines, int mainLength = -1)
    {
        MainLength = mainLength < 0 ? insns.Length : mainLength;
        Name = name;
        Section = section;
        Insns = insns;
        _lines = lines;
        var helpers = new List<BpfHelperUse>();
        for (int i = 0; i < insns.Length; i++)
        {
            if (insns[i].IsHelperCall) helpers.Add(new(i, insns[i].Imm));
            if (insns[i].IsLdImm64) i++;
        }
        HelperCalls = helpers;
        Type = BpfProgramTypes.FromSection(section);
    }

    private readonly BpfSourceLine?[] _lines;

    /// <summary>
    /// Builds a program from hand-assembled instructions (tests, tools). decodeOnly: the VM checks
    /// encodings only and skips the verifier, for tests of run-time faults the verifier would refuse.
    /// </summary>
    public static BpfProgram FromInstructions(string name, IReadOnlyList<BpfInsn> insns, string section = "raw_tp/test", bool decodeOnly = false) =>
        new(name, section, insns.ToArray(), new BpfSourceLine?[insns.Count]) { DecodeOnly = decodeOnly };

    /// <summary>The same program, marked to skip the verifier (tests of run-time behaviour the verifier refuses).</summary>
    internal BpfProgram DecodeOnlyCopy() => new(Name, Section, Insns, _lines, MainLength) { DecodeOnly = true, CorePoisoned = CorePoisoned, TypedKsyms = TypedKsyms, KernelBtf = KernelBtf };

    /// <summary>
    /// Instructions CO-RE poisoned (call 0xbad2310) with the local spec libbpf prints for them:
    /// if the verifier reaches one, libbpf's log fixup replaces "invalid func unknown#195896080".
    /// </summary>
    internal IReadOnlyDictionary<int, string>? CorePoisoned { get; init; }

    /// <summary>The kernel BTF the object was loaded against (a world's); null: the simulated vmlinux's. The verifier types PTR_TO_BTF_ID by it.</summary>
    internal Kernel.Btf.Btf? KernelBtf { get; init; }

    /// <summary>
    /// Set by the verifier: the loads through PTR_TO_BTF_ID, which the kernel rewrites to BPF_PROBE_MEM
    /// (a fault there gives 0 instead of stopping the program). null: none.
    /// </summary>
    internal bool[]? ProbeMemLoads { get; set; }

    /// <summary>The object's typed __ksym externs (ld_imm64 BPF_PSEUDO_BTF_ID names one by its kernel VAR id).</summary>
    public IReadOnlyList<BpfTypedKsym> TypedKsyms { get; internal init; } = [];

    /// <summary>The typed __ksym whose kernel VAR id is btfId, or null.</summary>
    public BpfTypedKsym? TypedKsym(int btfId)
    {
        foreach (var k in TypedKsyms) if (k.BtfId == btfId) return k;
        return null;
    }

    /// <summary>The same instructions with a verdict of their own (an object copy whose data the verifier reads differs).</summary>
    internal BpfProgram FreshCopy() => new(Name, Section, Insns, _lines, MainLength) { DecodeOnly = DecodeOnly, CorePoisoned = CorePoisoned, TypedKsyms = TypedKsyms, KernelBtf = KernelBtf };

    /// <summary>The entry function's own instructions (the .text subprograms libbpf appends follow).</summary>
    public int MainLength { get; }

    /// <summary>Skip the verifier when a VM is built (hand-assembled test programs only).</summary>
    public bool DecodeOnly { get; private init; }

    /// <summary>The verifier's outcome for this program, kept so that each VM of it does not verify again.</summary>
    internal object? VerifierCache;

    public string Name { get; }
    public string Section { get; }
    public BpfProgramType Type { get; }
    public BpfInsn[] Insns { get; }
    public IReadOnlyList<BpfHelperUse> HelperCalls { get; }
    /// <summary>The kernel function bpf_get_func_ip reports for this program's attach point, "" for none (parsed once).</summary>
    public string FuncIpTarget => _funcIpTarget ??= BpfProgramTypes.FuncIpTarget(Section) ?? "";
    /// <summary>A task iterator (SEC("iter/task"), "iter.s/task" sleepable): its ctx is a struct bpf_iter__task.</summary>
    public bool IsTaskIterator => Type == BpfProgramType.Iter && Section is "iter/task" or "iter.s/task";
    /// <summary>What a prog array compares when this program uses it or goes into it (bpf_prog_map_compatible).</summary>
    public TailCallOwner TailCallOwner => BpfProgramTypes.OwnerOf(Type, Section);
    private string? _funcIpTarget;

    /// <summary>Source line of an instruction (the nearest line record at or before it), or null.</summary>
    public BpfSourceLine? LineOf(int insn) => insn >= 0 && insn < _lines.Length ? _lines[insn] : null;
}

/// <summary>A loaded BPF ELF object: its programs, maps (global data included) and globals.</summary>
public sealed class BpfObject
{
    internal BpfObject(string name, List<BpfProgram> programs, List<BpfMapSpec> maps, List<BpfGlobal> globals, BtfData? btf,
        List<BpfKsym>? ksyms = null)
    {
        Name = name;
        Ksyms = ksyms ?? [];
        Programs = programs;
        Maps = maps;
        Globals = globals;
        Btf = btf;
    }

    public string Name { get; }
    public IReadOnlyList<BpfProgram> Programs { get; }
    public IReadOnlyList<BpfMapSpec> Maps { get; }
    public IReadOnlyList<BpfGlobal> Globals { get; }
    public BtfData? Btf { get; }
    /// <summary>The typeless __ksym externs its programs load (ld_imm64 src PSEUDO_KSYM_IDX indexes this).</summary>
    public IReadOnlyList<BpfKsym> Ksyms { get; }


    /// <summary>Loads an object file; throws <see cref="BpfLoadException"/> and keeps nothing on failure.</summary>
    public static BpfObject Load(string path) => ElfBpfLoader.Load(File.ReadAllBytes(path), Path.GetFileName(path));

    public static BpfObject Load(byte[] elf, string name) => ElfBpfLoader.Load(elf, name);

    /// <summary>
    /// This object with some globals' first bytes replaced, as a skeleton sets skel->rodata between
    /// open and load: its own copies of the data maps touched, and of the programs (the verifier reads
    /// those bytes, so the verdict is the copy's); everything else shared. No inits: this object.
    /// Throws <see cref="BpfLoadException"/> for a name that is no global of a data section.
    /// </summary>
    public BpfObject WithGlobals(IReadOnlyList<KeyValuePair<string, byte[]>> inits)
    {
        if (inits.Count == 0) return this;
        var maps = new List<BpfMapSpec>(Maps);
        var copied = new bool[maps.Count];
        foreach (var (name, bytes) in inits)
        {
            var g = FindGlobal(name) ?? throw new BpfLoadException($"{Name}: no global variable \"{name}\"");
            if (maps[g.MapIndex].InitialValue is not { } initial) throw new BpfLoadException($"{Name}: \"{name}\" is not in a data section");
            if (!copied[g.MapIndex])
            {
                maps[g.MapIndex] = maps[g.MapIndex] with { InitialValue = (byte[])initial.Clone() };
                copied[g.MapIndex] = true;
            }
            bytes.AsSpan(0, Math.Min(bytes.Length, g.Size)).CopyTo(maps[g.MapIndex].InitialValue.AsSpan(g.Offset));
        }
        var programs = new List<BpfProgram>(Programs.Count);
        foreach (var p in Programs) programs.Add(p.FreshCopy());
        return new BpfObject(Name, programs, maps, new List<BpfGlobal>(Globals), Btf, new List<BpfKsym>(Ksyms));
    }

    /// <summary>Loads an object whose CO-RE relocations resolve against <paramref name="kernelBtf"/> (a world's vmlinux plus its btf_types).</summary>
    public static BpfObject Load(byte[] elf, string name, Kernel.Btf.Btf kernelBtf) => ElfBpfLoader.Load(elf, name, kernelBtf);

    /// <summary>Builds an object from hand-assembled programs and map specs (tests, tools).</summary>
    public static BpfObject FromPrograms(IEnumerable<BpfProgram> programs, IEnumerable<BpfMapSpec>? maps = null,
        IEnumerable<BpfGlobal>? globals = null) =>
        new("asm", programs.ToList(), (maps ?? []).ToList(), (globals ?? []).ToList(), null);

    public BpfGlobal? FindGlobal(string name)
    {
        foreach (var g in Globals) if (g.Name == name) return g;
        return null;
    }

    public int FindMap(string name)
    {
        for (int i = 0; i < Maps.Count; i++) if (Maps[i].Name == name) return i;
        return -1;
    }

    /// <summary>
    /// The program in <paramref name="section"/> (any name, .text included) named <paramref name="function"/>;
    /// either may be null when it leaves one choice. Throws <see cref="BpfLoadException"/> naming the choices.
    /// </summary>
    public BpfProgram FindProgram(string? section, string? function = null)
    {
        var hits = Programs.Where(p => (section is null || p.Section == section) && (function is null || p.Name == function)).ToList();
        if (hits.Count == 1) return hits[0];
        string all = string.Join(", ", Programs.Select(p => $"{p.Section}:{p.Name}"));
        if (hits.Count == 0)
            throw new BpfLoadException($"{Name}: no program in section '{section ?? "*"}'" + (function is null ? "" : $" named '{function}'") + $" (programs: {all})");
        throw new BpfLoadException($"{Name}: section '{section}' holds {hits.Count} programs; name one with \"program\" ({string.Join(", ", hits.Select(h => h.Name))})");
    }

    /// <summary>An inspect-style description: programs (with helpers called), maps, globals.</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        sb.Append("object ").Append(Name).Append('\n');
        foreach (var p in Programs)
        {
            sb.Append($"program {p.Name} section {p.Section} type {p.Type} insns {p.Insns.Length}\n");
            foreach (var id in p.HelperCalls.Select(h => h.HelperId).Distinct().Order())
                sb.Append($"  helper {id} {BpfHelperNames.Name(id)}\n");
        }
        foreach (var m in Maps)
            sb.Append($"map {m.Name} type {m.Type} key {m.KeySize} value {m.ValueSize} max_entries {m.MaxEntries}{(m.ReadOnly ? " readonly" : "")}\n");
        foreach (var g in Globals)
            sb.Append($"global {g.Name} section {g.Section} offset {g.Offset} size {g.Size}\n");
        return sb.ToString();
    }
}

/// <summary>Refusal of an object or program: the message names section, instruction and source line when known.</summary>
public class BpfLoadException : Exception
{
    public BpfLoadException(string message) : base(message) { }

    public BpfLoadException(string message, string? section, int insn, BpfSourceLine? line) : base(Compose(message, section, insn, line))
    {
        Section = section;
        Insn = insn;
        Line = line;
    }

    public string? Section { get; }
    public int Insn { get; } = -1;
    public BpfSourceLine? Line { get; }

    private static string Compose(string message, string? section, int insn, BpfSourceLine? line)
    {
        var sb = new StringBuilder(message);
        if (section is not null) sb.Append($" (section '{section}'");
        if (insn >= 0) sb.Append($", insn {insn}");
        if (line is { } l) sb.Append($", {l}");
        if (section is not null) sb.Append(')');
        return sb.ToString();
    }
}

/// <summary>What the verifier would refuse at load time (exec output: verifier_error).</summary>
public sealed class BpfVerifierException : BpfLoadException
{
    public BpfVerifierException(string message, string? section, int insn, BpfSourceLine? line)
        : base(message, section, insn, line) { }

    public BpfVerifierException(string message, string? section, int insn, BpfSourceLine? line, int errno, string log)
        : base(message, section, insn, line)
    {
        Errno = errno;
        Log = log;
    }

    /// <summary>What bpf(BPF_PROG_LOAD) returns, negated (EACCES for most rules, EINVAL, E2BIG).</summary>
    public int Errno { get; } = Kernel.Errno.EINVAL;

    /// <summary>The verifier log; its last line is the kernel's message for the rule.</summary>
    public string Log { get; } = "";

    /// <summary>The kernel's message alone (the log's last line).</summary>
    public string KernelMessage => Log.Length == 0 ? Message : Log[(Log.TrimEnd('\n').LastIndexOf('\n') + 1)..].TrimEnd('\n');
}

/// <summary>A prog array owner's identity (<see cref="BpfProgramTypes.OwnerOf"/>): equal owners may share a prog array.</summary>
public readonly record struct TailCallOwner(BpfProgramType Type, string ExpectedAttachType, bool Sleepable, string AttachTarget);

/// <summary>Program types by libbpf's SEC() prefixes (only what helper availability needs).</summary>
public enum BpfProgramType { Kprobe, Tracepoint, RawTracepoint, Tracing, PerfEvent, Iter, SocketFilter, Unknown, Syscall }

public static class BpfProgramTypes
{
    public static BpfProgramType FromSection(string section)
    {
        static bool P(string s, string prefix) => s == prefix || s.StartsWith(prefix + "/", StringComparison.Ordinal) || s.StartsWith(prefix + ".", StringComparison.Ordinal);
        if (P(section, "kprobe") || P(section, "kretprobe") || P(section, "uprobe") || P(section, "uretprobe") || P(section, "ksyscall") || P(section, "usdt")) return BpfProgramType.Kprobe;
        if (P(section, "tracepoint") || P(section, "tp")) return BpfProgramType.Tracepoint;
        if (P(section, "raw_tracepoint") || P(section, "raw_tp")) return BpfProgramType.RawTracepoint;
        if (P(section, "tp_btf") || P(section, "fentry") || P(section, "fexit") || P(section, "fmod_ret") || P(section, "lsm")) return BpfProgramType.Tracing;
        if (P(section, "perf_event")) return BpfProgramType.PerfEvent;
        if (P(section, "iter") || P(section, "iter.s")) return BpfProgramType.Iter;
        if (P(section, "socket")) return BpfProgramType.SocketFilter;
        if (P(section, "syscall")) return BpfProgramType.Syscall;
        return BpfProgramType.Unknown;
    }

    /// <summary>
    /// What a prog array remembers of the first program that used it (bpf_prog_map_compatible's
    /// map owner) and compares every later one against: the program type, its expected attach type
    /// (libbpf's from the section prefix: kprobe.multi, fentry, fexit, tp_btf, iter, ...), whether it
    /// is sleepable (a ".s" section), and for tracing programs the function they attach to (their
    /// attach_func_proto). Every simulated program is JITed, none has xdp frags or cgroup storage.
    /// </summary>
    public static TailCallOwner OwnerOf(BpfProgramType type, string section)
    {
        int slash = section.IndexOf('/');
        string kind = slash < 0 ? section : section[..slash];
        bool sleepable = kind.EndsWith(".s", StringComparison.Ordinal);
        if (sleepable) kind = kind[..^2];
        string attachType = type switch
        {
            BpfProgramType.Kprobe => kind.EndsWith(".multi", StringComparison.Ordinal) || kind.EndsWith(".session", StringComparison.Ordinal) ? kind.Replace("kretprobe", "kprobe").Replace("uretprobe", "uprobe") : "",
            BpfProgramType.Tracing or BpfProgramType.Iter => kind,
            _ => "",
        };
        string target = type is BpfProgramType.Tracing or BpfProgramType.Iter && slash >= 0 ? section[(slash + 1)..] : "";
        return new TailCallOwner(type, attachType, sleepable, target);
    }

    /// <summary>
    /// The function whose address bpf_get_func_ip returns for a program in this section: a kprobe or
    /// kretprobe only on the function's entry (bpf_get_func_ip_kprobe: KPROBE_FLAG_ON_FUNC_ENTRY, so
    /// "kprobe/f+0x10" has none), fentry, fexit and fmod_ret their traced function (the trampoline
    /// keeps it); every other section none.
    /// </summary>
    public static string? FuncIpTarget(string section)
    {
        int slash = section.IndexOf('/');
        if (slash < 0) return null;
        string kind = section[..slash], target = section[(slash + 1)..];
        if (kind is not ("kprobe" or "kretprobe" or "fentry" or "fexit" or "fmod_ret")) return null;
        int plus = target.IndexOf('+');
        if (plus < 0) return target;
        string off = target[(plus + 1)..];
        return off is "0" or "0x0" ? target[..plus] : null;
    }
}
