using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using System.Text;
using BpfTraceSim.Bpf.Loader;
using BpfTraceSim.Contracts.Exec;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Btf;
using BpfTraceSim.Kernel.Perf;
using BpfTraceSim.Kernel.Printk;
using BpfTraceSim.Kernel.Ringbuf;

namespace BpfTraceSim.Client.Exec;

/// <summary>A validated exec world: what to build and the steps to run on it.</summary>
internal sealed record ExecWorld(WorldSpec Spec, ImmutableArray<ExecStep> Steps);

/// <summary>
/// Turns one exec document (docs/exec.md) into a world and its steps, or throws a
/// DocumentException naming the line and field of the first problem. Nothing runs here.
/// </summary>
internal sealed partial class ExecParser
{
    private static readonly string[] WorldFields = ["id", "cpus", "pmu", "seed", "tasks", "maps", "events", "slots", "kallsyms", "btf_types", "programs", "steps", "limits"];
    private static readonly string[] TaskFields = ["pid", "comm", "cpu", "tgid", "uid", "gid", "kernel_stack", "user_stack"];
    private static readonly string[] MapFields = ["type", "max_entries", "flags"];
    private static readonly string[] EventFields = ["type", "config", "cpu", "pid", "pinned", "inherit", "disabled", "sample_type", "ring_pages", "overwrite", "wakeup_events", "watermark"];
    private static readonly string[] ProgramFields = ["object", "section", "program", "init_globals"];
    private readonly string? _baseDir;
    private int _cpus = 1;
    private readonly Dictionary<int, int> _taskCpu = new();
    private readonly Dictionary<string, int> _mapEntries = new(StringComparer.Ordinal);
    private readonly HashSet<string> _objectStackMaps = new(StringComparer.Ordinal);
    private readonly HashSet<string> _events = new(StringComparer.Ordinal);
    private readonly HashSet<string> _programs = new(StringComparer.Ordinal);
    private readonly HashSet<string> _iterPrograms = new(StringComparer.Ordinal); // SEC("iter/task"): what read_iter reads
    // the objects' perf event arrays: max_entries (0 already made cpus) and map_flags
    private readonly Dictionary<string, (int Max, uint Flags)> _objectPerfMaps = new(StringComparer.Ordinal);
    // perf event arrays whose user fd a close_map step closed: the step's index
    private readonly Dictionary<string, int> _closedMaps = new(StringComparer.Ordinal);
    private CostLimits _limits = CostLimits.Default;
    private Btf _btf = null!;
    private string? _btfTypes; // the world's btf_types text: with the object's bytes, what its parse depends on
    private readonly Kallsyms _kallsyms = new();

    private ExecParser(string? baseDir) => _baseDir = baseDir;

    /// <summary>The document's id, if it has a string or number one (for error lines).</summary>
    public static string? IdOf(JNode? root) => root?["id"] is { } id && (id.IsString || id.IsNumber) ? id.Scalar : null;

    public static ExecWorld Parse(JNode root, string? baseDir) => new ExecParser(baseDir).ParseWorld(root);

    private ExecWorld ParseWorld(JNode root)
    {
        if (!root.IsObject) throw Err(root, "", $"a world must be a JSON object, found {root.KindName}");
        CheckFields(root, "", WorldFields);
        string id = IdOf(root) ?? "";
        if (root["limits"] is { } lim) _limits = ParseLimits(lim);
        bool pmu = root["pmu"] is { } p ? Bool(p, "pmu") : false;
        _cpus = root["cpus"] is { } c ? (int)Int(c, "cpus", 1, SimLimits.MaxCpus) : 1;
        ulong seed = root["seed"] is { } s ? U64(s, "seed") : 0;

        var tasks = ParseTasks(root["tasks"]);
        // the kernel BTF first: programs' CO-RE relocations resolve against it when they load
        string? btfTypes = _btfTypes = root["btf_types"] is { } bt ? ObjectJson(bt, "btf_types") : null;
        _btf = VmlinuxBtf.Create();
        if (btfTypes is not null)
        {
            using var doc = System.Text.Json.JsonDocument.Parse(btfTypes);
            try { BtfJson.AddTypes(_btf, doc.RootElement); }
            catch (BtfJsonException ex) { throw Err(root["btf_types"]!, ex.Path, ex.Detail); }
        }
        var programs = ParsePrograms(root["programs"]);
        var maps = ParseMaps(root["maps"]);
        var events = ParseEvents(root["events"], pmu);
        CheckRingBytes(root["events"], events);
        var slots = ParseSlots(root["slots"]);
        var kallsyms = ParseKallsyms(root["kallsyms"]);
        foreach (var (name, _) in kallsyms) _kallsyms.AddOrResize(name, kallsyms[name]);
        tasks = WithStacks(root["tasks"], tasks); // their frames may name the world's own kallsyms

        var spec = new WorldSpec
        {
            Id = id,
            Cpus = _cpus,
            Pmu = pmu,
            Seed = seed,
            Tasks = tasks,
            Maps = maps,
            Events = events,
            Slots = slots,
            Kallsyms = kallsyms,
            BtfTypesJson = btfTypes,
            Programs = programs,
        };
        var steps = ParseSteps(root["steps"]);
        return new ExecWorld(spec, steps);
    }

    // ---- limits on what the world costs (docs/limits.md) ----

    private static CostLimits ParseLimits(JNode node)
    {
        if (!node.IsObject) throw Err(node, "limits", $"must be an object of limit names to numbers, found {node.KindName}");
        var limits = CostLimits.Default;
        foreach (var (name, v) in node.Members!)
        {
            string path = "limits." + name;
            if (Array.IndexOf(CostLimits.Keys, name) < 0)
                throw Err(v, path, $"unknown limit \"{name}\"{Suggest(name, CostLimits.Keys)}; known limits: {string.Join(", ", CostLimits.Keys)}");
            if (!v.IsNumber || !double.TryParse(v.Scalar, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !limits.TryWith(name, value, out limits))
                throw Err(v, path, $"must be a number of at least 1, found {(v.IsNumber ? v.Scalar : v.KindName)}");
        }
        return limits;
    }

    // Every ring of an exec world is mapped in capture mode: its data pages are real bytes.
    private void CheckRingBytes(JNode? node, ImmutableArray<EventSpec> events)
    {
        long bytes = 0;
        EventSpec? biggest = null;
        foreach (var e in events)
        {
            if (e.RingPages is not int pages) continue;
            bytes += (long)pages * SimLimits.PageSize;
            if (biggest is null || pages > biggest.RingPages) biggest = e;
        }
        if (bytes <= _limits.MaxRingBytes || biggest is null) return;
        throw Err(node![biggest.Name]!, $"events.{biggest.Name}.ring_pages",
            $"the world's rings would hold {CostLimits.Bytes(bytes)} ({events.Count(e => e.RingPages is not null)} rings, the largest {biggest.RingPages:N0} pages x {SimLimits.PageSize} bytes), " +
            $"more than the limit of {CostLimits.Bytes(_limits.MaxRingBytes)}; use fewer or smaller rings, or raise \"limits\": {{ \"max_ring_bytes\": N }} to run it on purpose");
    }

    // ---- world parts ----

    private ImmutableArray<TaskSpec> ParseTasks(JNode? node)
    {
        if (node is null) return [];
        if (!node.IsArray) throw Err(node, "tasks", $"must be an array, found {node.KindName}");
        var list = ImmutableArray.CreateBuilder<TaskSpec>();
        for (int i = 0; i < node.Items!.Count; i++)
        {
            var t = node.Items[i];
            string path = $"tasks[{i}]";
            if (!t.IsObject) throw Err(t, path, $"must be an object, found {t.KindName}");
            CheckFields(t, path, TaskFields);
            int pid = (int)Int(Need(t, "pid", path), path + ".pid", 1, SimLimits.PidMax);
            if (_taskCpu.ContainsKey(pid)) throw Err(t["pid"]!, path + ".pid", $"pid {pid} is listed twice");
            string comm = t["comm"] is { } cn ? Str(cn, path + ".comm") : "task";
            if (Encoding.UTF8.GetByteCount(comm) > 15) comm = TruncateComm(comm); // TASK_COMM_LEN 16 with NUL
            int cpu = t["cpu"] is { } cc ? (int)Int(cc, path + ".cpu", 0, _cpus - 1) : 0;
            int tgid = t["tgid"] is { } tg ? (int)Int(tg, path + ".tgid", 1, SimLimits.PidMax) : pid;
            uint uid = t["uid"] is { } u ? (uint)Int(u, path + ".uid", 0, uint.MaxValue - 1) : 0;
            uint gid = t["gid"] is { } g ? (uint)Int(g, path + ".gid", 0, uint.MaxValue - 1) : 0;
            _taskCpu[pid] = cpu;
            list.Add(new TaskSpec(pid, comm, cpu, tgid, uid, gid));
        }
        return list.ToImmutable();
    }

    // tasks[i].kernel_stack / user_stack: frames innermost first, each an address or "symbol+0xoff" of the kallsyms
    private ImmutableArray<TaskSpec> WithStacks(JNode? node, ImmutableArray<TaskSpec> tasks)
    {
        if (node is null) return tasks;
        var list = tasks.ToBuilder();
        for (int i = 0; i < list.Count; i++)
        {
            var t = node.Items![i];
            string path = $"tasks[{i}]";
            list[i] = list[i] with
            {
                KernelStack = t["kernel_stack"] is { } k ? Frames(k, path + ".kernel_stack") : null,
                UserStack = t["user_stack"] is { } u ? Frames(u, path + ".user_stack") : null,
            };
        }
        return list.ToImmutable();
    }

    private ImmutableArray<ulong> Frames(JNode node, string path)
    {
        if (!node.IsArray) throw Err(node, path, $"must be an array of addresses (innermost first), found {node.KindName}");
        if (node.Items!.Count > SimLimits.MaxStackFrames)
            throw Err(node, path, $"has {node.Items.Count} frames, more than the {SimLimits.MaxStackFrames} a simulated stack may have (the helpers see at most {Bpf.Vm.BpfStackMap.MaxStack})");
        var b = ImmutableArray.CreateBuilder<ulong>(node.Items.Count);
        for (int i = 0; i < node.Items.Count; i++) b.Add(Frame(node.Items[i], $"{path}[{i}]"));
        return b.MoveToImmutable();
    }

    // 0xffffffff81000000, a number, or "vfs_read+0x1d" / "vfs_read" (the symbol's address in the world's kallsyms, plus the offset)
    private ulong Frame(JNode n, string path)
    {
        if (!n.IsString || JsonTree.TryParseInteger(n.Scalar!.Trim(), out _)) return U64(n, path);
        string s = n.Scalar!.Trim();
        int plus = s.IndexOf('+', StringComparison.Ordinal);
        string name = plus < 0 ? s : s[..plus];
        ulong off = 0;
        if (plus >= 0 && !JsonTree.TryParseInteger(s[(plus + 1)..], out off))
            throw Err(n, path, $"\"{s}\": the offset after '+' must be an integer such as 0x1d");
        if (!_kallsyms.TryGetAddress(name, out ulong addr))
            throw Err(n, path, $"no symbol \"{name}\" in the simulated kallsyms (add it with \"kallsyms\": {{ \"{name}\": \"0x100\" }}, or give the address)");
        return addr + off;
    }

    private static string TruncateComm(string comm)
    {
        var bytes = Encoding.UTF8.GetBytes(comm);
        return Encoding.UTF8.GetString(bytes, 0, 15);
    }

    private ImmutableArray<ProgramSpec> ParsePrograms(JNode? node)
    {
        if (node is null) return [];
        if (!node.IsObject) throw Err(node, "programs", $"must be an object, found {node.KindName}");
        var list = ImmutableArray.CreateBuilder<ProgramSpec>();
        foreach (var (name, p) in node.Members!)
        {
            string path = $"programs.{name}";
            if (!p.IsObject) throw Err(p, path, $"must be an object, found {p.KindName}");
            CheckFields(p, path, ProgramFields);
            string obj = Str(Need(p, "object", path), path + ".object");
            if (obj.Length == 0 || obj.Contains('\0', StringComparison.Ordinal))
                throw Err(p["object"]!, path + ".object", "must be a file path (not empty, no NUL character)");
            string full = Path.IsPathRooted(obj) ? obj : Path.Combine(_baseDir ?? Directory.GetCurrentDirectory(), obj);
            byte[] bytes;
            try
            {
                if (File.Exists(full) && new FileInfo(full).Length > SimLimits.MaxDocumentBytes)
                    throw Err(p["object"]!, path + ".object", $"{full} is more than the {CostLimits.Bytes(SimLimits.MaxDocumentBytes)} an object file may be");
                bytes = File.ReadAllBytes(full);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                throw Err(p["object"]!, path + ".object", $"cannot read {full}: {ex.Message}");
            }
            string? section = p["section"] is { } sec ? Str(sec, path + ".section") : null;
            string? fn = p["program"] is { } f ? Str(f, path + ".program") : null;
            // Open it now: an object the loader refuses makes the world invalid, naming why and where.
            // The hosts instantiate this same parse (BpfObjectStore), so the object is parsed once.
            var inits = ImmutableArray<GlobalInit>.Empty;
            try
            {
                // CO-RE against this world's kernel BTF; the hosts instantiate this same parse (BpfObjectStore)
                var loaded = BpfObjectStore.Shared.Open(bytes, Path.GetFileName(full), _btfTypes, () => _btf);
                var found = loaded.FindProgram(section, fn);
                if (found.IsTaskIterator) _iterPrograms.Add(name);
                CheckProgArrays(name, loaded);
                if (p["init_globals"] is { } ig) inits = InitGlobals(ig, path + ".init_globals", loaded);
                foreach (var m in loaded.Maps)
                    if (m.Type == BpfMapType.PerfEventArray)
                        _objectPerfMaps[m.Name] = (m.MaxEntries > 0 ? m.MaxEntries : _cpus, m.Flags); // libbpf: 0 means every possible CPU
                    else if (m.Type == BpfMapType.RingBuf)
                        _objectRingbufs[m.Name] = (uint)m.MaxEntries;
                    else if (m.Type == BpfMapType.StackTrace)
                        _objectStackMaps.Add(m.Name);
            }
            catch (BpfLoadException ex)
            {
                throw Err(p, path, ex.Message);
            }
            _programs.Add(name);
            list.Add(new ProgramSpec(name, full, bytes, section, fn) { InitGlobals = inits });
        }
        return list.ToImmutable();
    }

    // init_globals: { "<global>": integer | { "bytes_hex": "..." } }, the variable's first bytes before load.
    private ImmutableArray<GlobalInit> InitGlobals(JNode node, string path, BpfObject obj)
    {
        if (!node.IsObject) throw Err(node, path, $"must be an object (global name -> value), found {node.KindName}");
        var list = ImmutableArray.CreateBuilder<GlobalInit>();
        foreach (var (name, v) in node.Members!)
        {
            string at = $"{path}.{name}";
            var g = obj.FindGlobal(name)
                ?? throw Err(v, at, $"no global variable \"{name}\" in {obj.Name}" + Suggest(name, obj.Globals.Select(x => x.Name)));
            byte[] bytes;
            if (v.IsObject)
            {
                CheckFields(v, at, ["bytes_hex"]);
                bytes = Hex(Need(v, "bytes_hex", at), at + ".bytes_hex");
            }
            else
            {
                bytes = g.IntegerBytes(U64(v, at));
            }
            if (bytes.Length > g.Size) throw Err(v, at, $"{bytes.Length} bytes do not fit \"{name}\" ({g.Size} bytes)");
            list.Add(new GlobalInit(name, bytes));
        }
        return list.ToImmutable();
    }

    private ImmutableArray<MapSpec> ParseMaps(JNode? node)
    {
        var list = ImmutableArray.CreateBuilder<MapSpec>();
        // The objects' perf event arrays, unless "maps" overrides their max_entries below.
        foreach (var (name, (max, objFlags)) in _objectPerfMaps)
        {
            if (node?[name] is not null) continue;
            _mapEntries[name] = max;
            list.Add(new MapSpec(name, "perf_event_array", max) { Flags = objFlags });
        }
        AddObjectRingbufs(node, list);
        if (node is null) return list.ToImmutable();
        if (!node.IsObject) throw Err(node, "maps", $"must be an object, found {node.KindName}");
        foreach (var (name, m) in node.Members!)
        {
            string path = $"maps.{name}";
            if (!m.IsObject) throw Err(m, path, $"must be an object, found {m.KindName}");
            CheckFields(m, path, MapFields);
            string type = m["type"] is { } t ? Str(t, path + ".type") : "perf_event_array";
            if (type == BpfRingbuf.MapTypeName)
            {
                list.Add(RingbufMap(m, name, path));
                continue;
            }
            if (type != "perf_event_array")
                throw Err(m["type"]!, path + ".type", $"unknown map type \"{type}\": exec worlds declare perf_event_array and ringbuf maps (other maps come from BPF objects)");
            int max = m["max_entries"] is { } me ? (int)Int(me, path + ".max_entries", 1, SimLimits.MaxMapEntries) : _cpus;
            uint flags = _objectPerfMaps.GetValueOrDefault(name).Flags;
            if (m["flags"] is { } fl)
            {
                ulong v = U64(fl, path + ".flags");
                if (v != 0 && v != BpfFlags.BPF_F_PRESERVE_ELEMS)
                    throw Err(fl, path + ".flags", "a perf event array takes 0 or BPF_F_PRESERVE_ELEMS");
                flags = (uint)v;
            }
            _mapEntries[name] = max;
            list.Add(new MapSpec(name, type, max) { Flags = flags });
        }
        return list.ToImmutable();
    }

    private ImmutableArray<EventSpec> ParseEvents(JNode? node, bool pmu)
    {
        var list = ImmutableArray.CreateBuilder<EventSpec>();
        if (node is null) return list.ToImmutable();
        if (!node.IsObject) throw Err(node, "events", $"must be an object, found {node.KindName}");
        ulong nextId = 1;
        foreach (var (name, e) in node.Members!)
        {
            string path = $"events.{name}";
            if (!e.IsObject) throw Err(e, path, $"must be an object, found {e.KindName}");
            CheckFields(e, path, EventFields);
            uint type = PerfConstants.PERF_TYPE_SOFTWARE;
            ulong config = PerfConstants.PERF_COUNT_SW_BPF_OUTPUT;
            if (e["type"] is { } tn) type = EventType(tn, path + ".type");
            else if (e["config"] is { IsString: true } cn && PerfConstants.TryLookupConfig(cn.Scalar!, out uint inferred, out _))
                type = inferred; // a hardware config name implies a hardware event
            if (e["config"] is { } cf) config = EventConfig(cf, path + ".config", type);
            else if (type != PerfConstants.PERF_TYPE_SOFTWARE) throw Err(e, path + ".config", "missing required field \"config\" (only software events default to bpf_output)");
            if (type == PerfConstants.PERF_TYPE_HARDWARE && !pmu)
                throw Err(e["type"] ?? e["config"] ?? e, path + (e["type"] is null ? ".config" : ".type"), "hardware events cannot be opened: this world has no PMU (set \"pmu\": true)");
            int cpu = e["cpu"] is { } c ? (int)Int(c, path + ".cpu", -1, _cpus - 1) : -1;
            int pid = e["pid"] is { } p ? (int)Int(p, path + ".pid", -1, SimLimits.PidMax) : -1;
            if (pid == 0) throw Err(e["pid"]!, path + ".pid", "pid 0 is the idle task; use -1 for a per-CPU event or a listed task's pid");
            if (pid > 0 && !_taskCpu.ContainsKey(pid)) throw Err(e["pid"]!, path + ".pid", $"no task with pid {pid} in \"tasks\"");
            if (pid == -1 && cpu == -1) throw Err(e, path, "pid -1 and cpu -1 together are invalid (perf_event_open refuses them): give a cpu or a task pid");
            ulong sampleType = e["sample_type"] is { } st ? SampleType(st, path + ".sample_type") : PerfConstants.PERF_SAMPLE_RAW;
            int? ring = null;
            if (e["ring_pages"] is { } rp && !rp.IsNull)
            {
                long pages = Int(rp, path + ".ring_pages", 0, SimLimits.MaxRingPages);
                if (pages != 0 && (pages & (pages - 1)) != 0) throw Err(rp, path + ".ring_pages", $"must be 0 or a power of two, got {pages}");
                ring = (int)pages;
            }
            uint wakeup = e["wakeup_events"] is { } we ? (uint)Int(we, path + ".wakeup_events", 0, uint.MaxValue) : 1;
            uint watermark = e["watermark"] is { } wm ? (uint)Int(wm, path + ".watermark", 0, uint.MaxValue) : 0;
            var attr = new PerfEventAttr(type, config, sampleType, Pinned: false, Inherit: false, Disabled: false, wakeup, watermark);
            int open = PerfEvent.PerfEventOpen(attr, pid, cpu, nextId, pmu, ring, overwrite: false, capturePayload: false, out _);
            if (open != 0)
                throw Err(e, path, $"perf_event_open refuses this event with -{Errno.Name(open)} (sample_type bits the simulator cannot fill, an unknown config, or a type it does not model)");
            _events.Add(name);
            list.Add(new EventSpec
            {
                Name = name,
                Id = nextId++,
                Type = type,
                Config = config,
                Cpu = cpu,
                Pid = pid,
                Pinned = e["pinned"] is { } pn && Bool(pn, path + ".pinned"),
                Inherit = e["inherit"] is { } ih && Bool(ih, path + ".inherit"),
                Disabled = e["disabled"] is { } d && Bool(d, path + ".disabled"),
                Overwrite = e["overwrite"] is { } o && Bool(o, path + ".overwrite"),
                SampleType = sampleType,
                RingPages = ring,
                WakeupEvents = wakeup,
                Watermark = watermark,
            });
        }
        return list.ToImmutable();
    }

    private ImmutableDictionary<string, ImmutableArray<string?>> ParseSlots(JNode? node)
    {
        var dict = ImmutableDictionary.CreateBuilder<string, ImmutableArray<string?>>(StringComparer.Ordinal);
        if (node is null) return dict.ToImmutable();
        if (!node.IsObject) throw Err(node, "slots", $"must be an object, found {node.KindName}");
        foreach (var (map, list) in node.Members!)
        {
            string path = $"slots.{map}";
            if (!_mapEntries.TryGetValue(map, out int max))
                throw Err(list, path, $"no perf event array named \"{map}\" in \"maps\" or in the programs' objects");
            if (!list.IsArray) throw Err(list, path, $"must be an array of event names or null, found {list.KindName}");
            if (list.Items!.Count > max)
                throw Err(list, path, $"has {list.Items.Count} entries but the map's max_entries is {max}");
            var entries = ImmutableArray.CreateBuilder<string?>();
            for (int i = 0; i < list.Items!.Count; i++)
            {
                var item = list.Items[i];
                if (item.IsNull) { entries.Add(null); continue; }
                string ev = Str(item, $"{path}[{i}]");
                if (!_events.Contains(ev)) throw Err(item, $"{path}[{i}]", $"no event named \"{ev}\" in \"events\"");
                entries.Add(ev);
            }
            dict[map] = entries.ToImmutable();
        }
        return dict.ToImmutable();
    }

    private static ImmutableDictionary<string, ulong> ParseKallsyms(JNode? node)
    {
        var dict = ImmutableDictionary.CreateBuilder<string, ulong>(StringComparer.Ordinal);
        if (node is null) return dict.ToImmutable();
        if (!node.IsObject) throw Err(node, "kallsyms", $"must be an object of name: size, found {node.KindName}");
        foreach (var (name, size) in node.Members!)
        {
            ulong v = U64(size, $"kallsyms.{name}");
            if (v == 0) throw Err(size, $"kallsyms.{name}", "a symbol's size must be at least 1");
            dict[name] = v;
        }
        return dict.ToImmutable();
    }

    // ---- steps ----

    private ImmutableArray<ExecStep> ParseSteps(JNode? node)
    {
        if (node is null) return [];
        if (!node.IsArray) throw Err(node, "steps", $"must be an array, found {node.KindName}");
        if (node.Items!.Count > _limits.MaxSteps)
            throw Err(node, "steps", $"{node.Items.Count:N0} steps are more than the limit of {CostLimits.Count(_limits.MaxSteps)} per world; " +
                "split the world, or raise \"limits\": { \"max_steps\": N } to run it on purpose");
        var steps = ImmutableArray.CreateBuilder<ExecStep>();
        ulong now = 0;
        for (int i = 0; i < node.Items!.Count; i++)
        {
            var s = node.Items[i];
            string path = $"steps[{i}]";
            if (!s.IsObject) throw Err(s, path, $"must be an object, found {s.KindName}");
            _stepIndex = i;
            var step = ParseStep(s, path, now);
            if (step.Call == StepCall.AdvanceNs)
            {
                if (ulong.MaxValue - now < step.AdvanceNs) throw Err(s, path + ".advance_ns", "simulated time would overflow u64 nanoseconds");
                now += step.AdvanceNs;
            }
            steps.Add(step);
        }
        return steps.ToImmutable();
    }

    private ExecStep ParseStep(JNode s, string path, ulong now)
    {
        if (s["advance_ns"] is { } adv)
        {
            CheckFields(s, path, ["advance_ns"], "an advance_ns step has no other fields");
            return new ExecStep { Call = StepCall.AdvanceNs, AdvanceNs = U64(adv, path + ".advance_ns"), NowNs = now };
        }
        var callNode = Need(s, "call", path);
        string callName = Str(callNode, path + ".call");
        if (!StepKinds.TryGet(callName, out var def))
            throw Err(callNode, path + ".call", $"unknown call \"{callName}\"{Suggest(callName, StepKinds.CallNames)}");
        var call = def.Call;
        if (call == StepCall.SetTaskCpu)
            CheckFields(s, path, ["call", "pid", "to"]);
        else
            CheckFields(s, path, [.. StepKinds.Common, .. def.Fields]);

        if (call == StepCall.SetTaskCpu)
        {
            int tpid = (int)Int(Need(s, "pid", path), path + ".pid", 1, SimLimits.PidMax);
            if (!_taskCpu.ContainsKey(tpid)) throw Err(s["pid"]!, path + ".pid", $"no task with pid {tpid} in \"tasks\"");
            int to = (int)Int(Need(s, "to", path), path + ".to", 0, _cpus - 1);
            _taskCpu[tpid] = to;
            return new ExecStep { Call = call, Pid = tpid, To = to, NowNs = now };
        }

        int pid = 0;
        if (s["pid"] is { } pn)
        {
            pid = (int)Int(pn, path + ".pid", 0, SimLimits.PidMax);
            if (pid != 0 && !_taskCpu.ContainsKey(pid)) throw Err(pn, path + ".pid", $"no task with pid {pid} in \"tasks\"");
        }
        int context = 0;
        if (s["context"] is { } cn)
        {
            context = Str(cn, path + ".context") switch
            {
                "task" => (int)ExecContext.Task,
                "softirq" => (int)ExecContext.Softirq,
                "hardirq" => (int)ExecContext.Hardirq,
                "nmi" => (int)ExecContext.Nmi,
                var other => throw Err(cn, path + ".context", $"unknown context \"{other}\" (task, softirq, hardirq or nmi)"),
            };
        }
        int cpu = pid != 0 ? _taskCpu[pid] : 0;
        if (s["cpu"] is { } cpuNode)
        {
            cpu = (int)Int(cpuNode, path + ".cpu", 0, _cpus - 1);
            if (pid != 0 && context == (int)ExecContext.Task && _taskCpu[pid] != cpu)
                throw Err(cpuNode, path + ".cpu", $"task {pid} runs on CPU {_taskCpu[pid]}, not {cpu}: in task context a step runs on its task's CPU (move it first with set_task_cpu)");
        }
        var step = new ExecStep { Call = call, Cpu = cpu, Pid = pid, Context = context, NowNs = now };

        switch (call)
        {
            case StepCall.PerfEventOutput:
                step = OutputData(s, path, step with { Map = MapRef(s, path), Flags = Flags(s, path) }, "perf_event_output");
                break;
            case StepCall.RingbufOutput or StepCall.RingbufReserve or StepCall.RingbufSubmit or StepCall.RingbufDiscard
                or StepCall.RingbufQuery or StepCall.ConsumeRingbuf:
                step = RingbufStep(s, path, step);
                break;
            case StepCall.PerfEventRead:
                step = step with { Map = MapRef(s, path), Flags = Flags(s, path) };
                break;
            case StepCall.PerfEventReadValue:
            {
                ulong size = s["size"] is { } sz ? U64(sz, path + ".size") : 24;
                ulong buf = s["buf_size"] is { } bs ? U64(bs, path + ".buf_size") : size;
                if (buf > SimLimits.MaxDataBytes) throw Err(s["buf_size"] ?? s["size"]!, path + ".buf_size", "must be at most 1 MiB");
                step = step with { Map = MapRef(s, path), Flags = Flags(s, path), Size = size, BufSize = buf };
                break;
            }
            case StepCall.TracePrintk:
                step = Fmt(s, path, step);
                step = step with { Args = Args(s["args"], path + ".args") };
                if (step.Args.Length > 3) throw Err(s["args"]!, path + ".args", "bpf_trace_printk takes at most 3 arguments");
                break;
            case StepCall.TraceVprintk:
                step = Varargs(s, path, Fmt(s, path, step));
                break;
            case StepCall.Snprintf:
            {
                step = Varargs(s, path, Fmt(s, path, step));
                ulong size = s["size"] is { } sz ? U64(sz, path + ".size") : 1024;
                if (size > SimLimits.MaxDataBytes) throw Err(s["size"]!, path + ".size", "must be at most 1 MiB");
                step = step with { Size = size };
                break;
            }
            case StepCall.SeqPrintf:
                step = Varargs(s, path, Fmt(s, path, Seq(s, path, step)));
                break;
            case StepCall.SeqWrite:
                step = Seq(s, path, step) with { Data = Hex(Need(s, "data_hex", path), path + ".data_hex") };
                break;
            case StepCall.SeqPrintfBtf:
                step = Seq(s, path, step) with { Btf = BtfArgOf(Need(s, "btf", path), path + ".btf"), Flags = Flags(s, path) };
                break;
            case StepCall.SeqEndObject:
                step = Seq(s, path, step) with { ProgRet = s["prog_ret"] is { } pr ? (long)U64(pr, path + ".prog_ret") : 0 };
                break;
            case StepCall.ReadSeq:
                step = Seq(s, path, step) with { ReadSize = s["read_size"] is { } rs ? (int)Int(rs, path + ".read_size", 1, SimLimits.MaxSeqBytes) : 4096 };
                break;
            case StepCall.UpdateSlot when s["program"] is not null:
            case StepCall.DeleteSlot when s["program"] is not null:
                step = ProgSlotStep(s, path, step);
                break;
            case StepCall.UpdateSlot:
            {
                OpenMap(s, path);
                string ev = Str(Need(s, "event", path), path + ".event");
                if (!_events.Contains(ev)) throw Err(s["event"]!, path + ".event", $"no event named \"{ev}\" in \"events\"");
                step = step with { Map = MapRef(s, path), Index = (long)U64(Need(s, "index", path), path + ".index"), Event = ev };
                break;
            }
            case StepCall.DeleteSlot when s["map"] is { IsString: true } dm && _objectStackMaps.Contains(dm.Scalar!):
                step = step with { Map = dm.Scalar, Index = StackKey(Need(s, "index", path), path + ".index") };
                break;
            case StepCall.DeleteSlot:
                OpenMap(s, path);
                step = step with { Map = MapRef(s, path), Index = (long)U64(Need(s, "index", path), path + ".index") };
                break;
            case StepCall.LookupSlot:
                step = step with { Map = StackMapRef(s, path), Index = StackKey(Need(s, "index", path), path + ".index") };
                break;
            case StepCall.NextSlot:
                step = step with { Map = StackMapRef(s, path), Index = s["index"] is { } nk ? StackKey(nk, path + ".index") : -1 };
                break;
            case StepCall.CloseMap:
                OpenMap(s, path);
                step = step with { Map = MapRef(s, path) };
                _closedMaps[step.Map] = _stepIndex;
                break;
            case StepCall.Enable or StepCall.Disable or StepCall.Consume:
            {
                string ev = Str(Need(s, "event", path), path + ".event");
                if (!_events.Contains(ev)) throw Err(s["event"]!, path + ".event", $"no event named \"{ev}\" in \"events\"");
                step = step with { Event = ev };
                break;
            }
            case StepCall.ReadTracePipe:
                break;
            case StepCall.Run:
                step = step with { Program = ProgramRef(s, path), CtxBytes = s["ctx_hex"] is { } ch ? Hex(ch, path + ".ctx_hex") : [] };
                break;
            case StepCall.ReadIter:
            {
                string program = ProgramRef(s, path);
                if (!_iterPrograms.Contains(program))
                    throw Err(s["program"]!, path + ".program", $"program \"{program}\" is not a SEC(\"iter/task\") program: read_iter reads a task iterator");
                step = step with
                {
                    Program = program,
                    ReadSize = s["read_size"] is { } irs ? (int)Int(irs, path + ".read_size", 1, SimLimits.MaxSeqBytes) : 4096,
                    SeqSize = s["seq_size"] is { } iss ? (int)Int(iss, path + ".seq_size", 1, SimLimits.MaxSeqBytes) : null,
                };
                break;
            }
            case StepCall.SetGlobal:
                step = step with
                {
                    Program = ProgramRef(s, path),
                    Name = Str(Need(s, "name", path), path + ".name"),
                    Value = Arg(Need(s, "value", path), path + ".value"),
                    Offset = s["offset"] is { } of ? Int(of, path + ".offset", 0, 1 << 24) : 0,
                };
                break;
            case StepCall.GetGlobal:
                step = step with { Program = ProgramRef(s, path), Name = Str(Need(s, "name", path), path + ".name") };
                break;
        }
        return step;
    }

    // An output step's bytes: data_hex, or size bytes (data_hex first, then the pattern 00 01 02 ...).
    private static ExecStep OutputData(JNode s, string path, ExecStep step, string call)
    {
        byte[]? hex = s["data_hex"] is { } dh ? Hex(dh, path + ".data_hex") : null;
        if (s["size"] is { } sz)
        {
            ulong size = U64(sz, path + ".size");
            if (size > SimLimits.MaxOutputBytes) throw Err(sz, path + ".size", $"must be at most {SimLimits.MaxOutputBytes >> 20} MiB");
            var data = new byte[size];
            if (hex is null)
                for (int i = 0; i < data.Length; i++) data[i] = (byte)i;
            else
                hex.AsSpan(0, Math.Min(hex.Length, data.Length)).CopyTo(data);
            return step with { Data = data, Size = size };
        }
        if (hex is not null) return step with { Data = hex, Size = (ulong)hex.Length };
        throw Err(s, path, $"{call} needs data_hex or size");
    }

    private string MapRef(JNode s, string path)
    {
        var n = Need(s, "map", path);
        string map = Str(n, path + ".map");
        if (!_mapEntries.ContainsKey(map)) throw Err(n, path + ".map", $"no perf event array named \"{map}\" in \"maps\" or in the programs' objects");
        return map;
    }

    // lookup_slot / next_slot read a program object's BPF_MAP_TYPE_STACK_TRACE map
    private string StackMapRef(JNode s, string path)
    {
        var n = Need(s, "map", path);
        string map = Str(n, path + ".map");
        if (!_objectStackMaps.Contains(map))
            throw Err(n, path + ".map", $"no stack_trace map named \"{map}\" in the programs' objects" + Suggest(map, _objectStackMaps));
        return map;
    }

    // a stack map's key is a u32 stack id
    private static long StackKey(JNode n, string path) => Int(n, path, 0, uint.MaxValue);

    // User space has no fd for a map after its close_map step: updates and deletes cannot name it.
    private void OpenMap(JNode s, string path)
    {
        if (s["map"] is { } n && n.IsString && _closedMaps.TryGetValue(Str(n, path + ".map"), out int closedAt))
            throw Err(n, path + ".map", $"map \"{Str(n, path + ".map")}\" was closed by steps[{closedAt}] (close_map): user space has no fd for it");
    }

    private string ProgramRef(JNode s, string path)
    {
        var n = Need(s, "program", path);
        string p = Str(n, path + ".program");
        if (!_programs.Contains(p)) throw Err(n, path + ".program", $"no program named \"{p}\" in \"programs\"");
        return p;
    }

    private static ulong Flags(JNode s, string path) => s["flags"] is { } f ? U64(f, path + ".flags") : 0;

    private static ExecStep Seq(JNode s, string path, ExecStep step)
    {
        string seq = Str(Need(s, "seq", path), path + ".seq");
        int? size = s["seq_size"] is { } ss ? (int)Int(ss, path + ".seq_size", 1, SimLimits.MaxSeqBytes) : null;
        return step with { Seq = seq, SeqSize = size };
    }

    private static ExecStep Fmt(JNode s, string path, ExecStep step)
    {
        byte[] fmt;
        if (s["fmt"] is { } f)
        {
            if (s["fmt_hex"] is not null) throw Err(s["fmt_hex"]!, path + ".fmt_hex", "give fmt or fmt_hex, not both");
            var text = Encoding.UTF8.GetBytes(Str(f, path + ".fmt"));
            fmt = new byte[text.Length + 1];
            text.CopyTo(fmt, 0);
        }
        else if (s["fmt_hex"] is { } fh) fmt = Hex(fh, path + ".fmt_hex");
        else throw Err(s, path, "needs fmt or fmt_hex");
        ulong fmtSize = s["fmt_size"] is { } fs ? U64(fs, path + ".fmt_size") : (ulong)fmt.Length;
        return step with { Fmt = fmt, FmtSize = fmtSize };
    }

    private ExecStep Varargs(JNode s, string path, ExecStep step)
    {
        bool hasRaw = s["data_len"] is not null || s["args_ptr"] is not null;
        if (hasRaw)
        {
            if (s["args"] is not null) throw Err(s["args"]!, path + ".args", "give args or data_len/args_ptr, not both");
            var lenNode = Need(s, "data_len", path);
            ulong dataLen = U64(lenNode, path + ".data_len");
            if (dataLen > SimLimits.MaxDataBytes) throw Err(lenNode, path + ".data_len", "must be at most 1 MiB");
            var ptr = s["args_ptr"];
            if (ptr is null || ptr.IsNull) return step with { DataLen = dataLen, ArgsPtrNull = ptr is not null, ArgsPtr = ptr is null ? [] : null };
            if (!ptr.IsArray) throw Err(ptr, path + ".args_ptr", $"must be an array of 64-bit values or null, found {ptr.KindName}");
            var words = ImmutableArray.CreateBuilder<ulong>();
            for (int i = 0; i < ptr.Items!.Count; i++) words.Add(U64(ptr.Items[i], $"{path}.args_ptr[{i}]"));
            return step with { DataLen = dataLen, ArgsPtr = words.ToImmutable() };
        }
        var args = Args(s["args"], path + ".args");
        if (args.Length > 128) throw Err(s["args"]!, path + ".args", "at most 128 arguments");
        return step with { Args = args };
    }

    private ImmutableArray<ArgSpec> Args(JNode? node, string path)
    {
        if (node is null) return [];
        if (!node.IsArray) throw Err(node, path, $"must be an array, found {node.KindName}");
        var list = ImmutableArray.CreateBuilder<ArgSpec>();
        for (int i = 0; i < node.Items!.Count; i++) list.Add(Arg(node.Items[i], $"{path}[{i}]"));
        return list.ToImmutable();
    }

    private static readonly string[] ArgKinds = ["str", "bytes_hex", "ipv4", "ipv6", "user_str", "null", "bad_ptr", "ksym", "offset", "addr_of", "user_bytes_hex", "kernel_bytes_hex"];

    private ArgSpec Arg(JNode n, string path)
    {
        if (n.IsNumber || n.IsString) return new ArgSpec { Kind = ArgKind.Value, Value = U64(n, path) };
        if (!n.IsObject) throw Err(n, path, $"an argument is a 64-bit value or a typed object, found {n.KindName}");
        CheckFields(n, path, ArgKinds);
        var first = n.Members!.Count > 0 ? n.Members[0].Key : "";
        if (first == "offset" && n.Members.Count > 1) first = n.Members[1].Key;
        string p = path + "." + first;
        var v = n[first];
        long offset = n["offset"] is { } o ? (long)U64(o, path + ".offset") : 0;
        return first switch
        {
            "str" => new ArgSpec { Kind = ArgKind.Str, Bytes = Nul(Str(v!, p)) },
            "user_str" => new ArgSpec { Kind = ArgKind.UserStr, Bytes = Nul(Str(v!, p)) },
            "bytes_hex" => new ArgSpec { Kind = ArgKind.BytesHex, Bytes = Hex(v!, p) },
            "kernel_bytes_hex" => new ArgSpec { Kind = ArgKind.KernelBytes, Bytes = Hex(v!, p) },
            "user_bytes_hex" => new ArgSpec { Kind = ArgKind.UserBytes, Bytes = Hex(v!, p) },
            "ipv4" => new ArgSpec { Kind = ArgKind.Ipv4, Bytes = Ip(v!, p, System.Net.Sockets.AddressFamily.InterNetwork) },
            "ipv6" => new ArgSpec { Kind = ArgKind.Ipv6, Bytes = Ip(v!, p, System.Net.Sockets.AddressFamily.InterNetworkV6) },
            "null" => new ArgSpec { Kind = ArgKind.Null },
            "bad_ptr" => new ArgSpec { Kind = ArgKind.BadPtr },
            "ksym" => _kallsyms.TryGetAddress(Str(v!, p), out _)
                ? new ArgSpec { Kind = ArgKind.Ksym, Name = Str(v!, p), Offset = offset }
                : throw Err(v!, p, $"no symbol \"{v!.Scalar}\" in the simulated kallsyms (add it with \"kallsyms\": {{ \"{v!.Scalar}\": \"0x100\" }})"),
            "addr_of" => new ArgSpec { Kind = ArgKind.AddrOf, Name = Str(v!, p), Offset = offset },
            _ => throw Err(n, path, "a typed argument needs one of str, bytes_hex, ipv4, ipv6, user_str, null, bad_ptr, ksym, addr_of, user_bytes_hex, kernel_bytes_hex"),
        };
    }

    private static byte[] Nul(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        Array.Resize(ref b, b.Length + 1);
        return b;
    }

    private static byte[] Ip(JNode n, string path, System.Net.Sockets.AddressFamily family)
    {
        string s = Str(n, path);
        if (!IPAddress.TryParse(s, out var ip) || ip.AddressFamily != family)
            throw Err(n, path, $"\"{s}\" is not an {(family == System.Net.Sockets.AddressFamily.InterNetwork ? "IPv4" : "IPv6")} address");
        return ip.GetAddressBytes();
    }

    private static readonly string[] BtfFields = ["type", "type_id", "value_hex", "value", "ptr_size", "ptr"];

    private BtfArg BtfArgOf(JNode n, string path)
    {
        if (!n.IsObject) throw Err(n, path, $"must be an object, found {n.KindName}");
        CheckFields(n, path, BtfFields);
        string? type = n["type"] is { } t ? Str(t, path + ".type") : null;
        uint? typeId = n["type_id"] is { } ti ? (uint)Int(ti, path + ".type_id", 0, uint.MaxValue) : null;
        if (type is null && typeId is null) throw Err(n, path, "needs type (a BTF type name) or type_id");
        if (n["value_hex"] is not null && n["value"] is not null) throw Err(n["value"]!, path + ".value", "give value or value_hex, not both");
        byte[]? bytes = n["value_hex"] is { } vh ? Hex(vh, path + ".value_hex") : null;
        string? valueJson = n["value"] is { } v ? ToJson(v) : null;
        if (type is not null)
        {
            if (!_btf.TryFind(type, out uint tid)) throw Err(n["type"]!, path + ".type", $"no BTF type named \"{type}\" (the simulated vmlinux BTF or this world's btf_types)");
            if (valueJson is not null)
            {
                using var doc = System.Text.Json.JsonDocument.Parse(valueJson);
                try { BtfJson.EncodeValue(_btf, tid, doc.RootElement); }
                catch (BtfJsonException ex) { throw Err(n["value"]!, path + "." + ex.Path, ex.Detail); }
            }
        }
        bool ptrNull = false, ptrBad = false;
        if (n["ptr"] is { } p)
        {
            if (p.IsNull) ptrNull = true;
            else if (p.IsObject && p["bad_ptr"] is { } bp && p.Members!.Count == 1 && Bool(bp, path + ".ptr.bad_ptr")) ptrBad = true;
            else throw Err(p, path + ".ptr", "ptr may only be null or { \"bad_ptr\": true }");
        }
        ulong ptrSize = n["ptr_size"] is { } ps ? U64(ps, path + ".ptr_size") : 16;
        return new BtfArg { TypeName = type, TypeId = typeId, ValueBytes = bytes, ValueJson = valueJson, PtrSize = ptrSize, PtrNull = ptrNull, PtrBad = ptrBad };
    }

    // ---- scalar helpers ----

    private static void CheckFields(JNode obj, string path, string[] allowed, string? hint = null)
    {
        foreach (var (name, value) in obj.Members!)
        {
            if (Array.IndexOf(allowed, name) >= 0) continue;
            string field = path.Length == 0 ? name : $"{path}.{name}";
            throw Err(value, field, hint ?? $"unknown field \"{name}\"{Suggest(name, allowed)}");
        }
    }

    private static string Suggest(string name, IEnumerable<string> known) => NameSuggest.DidYouMean(name, known, '"');

    private static JNode Need(JNode obj, string name, string path) =>
        obj[name] ?? throw Err(obj, path.Length == 0 ? name : $"{path}.{name}", $"missing required field \"{name}\"");

    private static DocumentException Err(JNode n, string field, string message) => new(n.Line, field, message);

    private static string Str(JNode n, string path) =>
        n.IsString ? n.Scalar! : throw Err(n, path, $"must be a string, found {n.KindName}");

    private static bool Bool(JNode n, string path) =>
        n.IsBool ? n.Kind == System.Text.Json.JsonTokenType.True : throw Err(n, path, $"must be true or false, found {n.KindName}");

    /// <summary>A 64-bit value: a JSON number, or a string with a number, hex, or flag names joined by |.</summary>
    private static ulong U64(JNode n, string path)
    {
        if (n.IsNumber)
        {
            if (JsonTree.TryParseInteger(n.Scalar!, out var v)) return v;
            throw Err(n, path, $"{n.Scalar} is not a 64-bit integer");
        }
        if (!n.IsString) throw Err(n, path, $"must be an integer, found {n.KindName}");
        ulong acc = 0;
        foreach (var raw in n.Scalar!.Split('|'))
        {
            string part = raw.Trim();
            if (JsonTree.TryParseInteger(part, out var v)) acc |= v;
            else if (BpfFlags.TryLookup(part, out var f)) acc |= f;
            else throw Err(n, path, $"\"{part}\" is not an integer or a known flag name");
        }
        return acc;
    }

    private static long Int(JNode n, string path, long min, long max)
    {
        ulong bits = U64(n, path);
        long v = unchecked((long)bits);
        bool negText = (n.Scalar ?? "").TrimStart().StartsWith('-');
        if (!negText && bits > long.MaxValue) v = long.MaxValue;
        if (v < min || v > max) throw Err(n, path, $"{n.Scalar} is out of range [{min}, {max}]");
        return v;
    }

    private static byte[] Hex(JNode n, string path)
    {
        string s = Str(n, path).Replace(" ", "", StringComparison.Ordinal);
        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) s = s[2..];
        try { return Convert.FromHexString(s); }
        catch (FormatException) { throw Err(n, path, "must be an even number of hex digits"); }
    }

    private static uint EventType(JNode n, string path)
    {
        if (n.IsString && PerfConstants.TryLookupType(n.Scalar!, out uint t)) return t;
        if (n.IsNumber || n.IsString) return (uint)Int(n, path, 0, uint.MaxValue);
        throw Err(n, path, $"must be a type name or number, found {n.KindName}");
    }

    private static ulong EventConfig(JNode n, string path, uint type)
    {
        if (n.IsString && PerfConstants.TryLookupConfig(type, n.Scalar!, out ulong c)) return c;
        if (n.IsNumber) return U64(n, path);
        if (n.IsString && JsonTree.TryParseInteger(n.Scalar!, out ulong v)) return v;
        throw Err(n, path, $"unknown config \"{n.Scalar}\" for this event type{(n.IsString ? Suggest(n.Scalar!, PerfConstants.ConfigNameList(type)) : "")}");
    }

    private static ulong SampleType(JNode n, string path)
    {
        if (n.IsNumber || (n.IsString && JsonTree.TryParseInteger(n.Scalar!, out _))) return U64(n, path);
        if (!n.IsArray) throw Err(n, path, $"must be a list of sample fields or a number, found {n.KindName}");
        ulong bits = 0;
        for (int i = 0; i < n.Items!.Count; i++)
        {
            string name = Str(n.Items[i], $"{path}[{i}]");
            if (!PerfConstants.TryLookupSampleBit(name, out ulong b)) throw Err(n.Items[i], $"{path}[{i}]", $"unknown sample field \"{name}\"{Suggest(name, PerfConstants.SampleNameList)}");
            bits |= b;
        }
        return bits;
    }

    private static string ObjectJson(JNode n, string path) =>
        n.IsObject ? ToJson(n) : throw Err(n, path, $"must be an object, found {n.KindName}");

    /// <summary>Writes a tree back as compact JSON (numbers keep their text).</summary>
    internal static string ToJson(JNode n)
    {
        var sb = new StringBuilder();
        Write(n, sb);
        return sb.ToString();

        static void Write(JNode n, StringBuilder sb)
        {
            switch (n.Kind)
            {
                case System.Text.Json.JsonTokenType.StartObject:
                    sb.Append('{');
                    for (int i = 0; i < n.Members!.Count; i++)
                    {
                        if (i > 0) sb.Append(',');
                        sb.Append(System.Text.Json.JsonSerializer.Serialize(n.Members[i].Key)).Append(':');
                        Write(n.Members[i].Value, sb);
                    }
                    sb.Append('}');
                    break;
                case System.Text.Json.JsonTokenType.StartArray:
                    sb.Append('[');
                    for (int i = 0; i < n.Items!.Count; i++)
                    {
                        if (i > 0) sb.Append(',');
                        Write(n.Items[i], sb);
                    }
                    sb.Append(']');
                    break;
                case System.Text.Json.JsonTokenType.String: sb.Append(System.Text.Json.JsonSerializer.Serialize(n.Scalar)); break;
                case System.Text.Json.JsonTokenType.Number: sb.Append(n.Scalar); break;
                case System.Text.Json.JsonTokenType.True: sb.Append("true"); break;
                case System.Text.Json.JsonTokenType.False: sb.Append("false"); break;
                default: sb.Append("null"); break;
            }
        }
    }
}
