using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using BpfTraceSim.Kernel;
using BpfTraceSim.Kernel.Perf;

namespace BpfTraceSim.Contracts.Scenarios;

/// <summary>
/// Reads a scenario file (docs/scenarios.md) into a <see cref="Scenario"/>, or refuses it with a
/// <see cref="ScenarioException"/> naming file:line:column, the field path and the reason. The
/// first problem found is reported; nothing is returned partially.
/// </summary>
public static partial class ScenarioParser
{
    /// <summary>The file name used in errors when text is parsed without one.</summary>
    public const string NoFile = "<input>";

    public static Scenario Parse(string yamlText, string file = NoFile) =>
        Parse(YamlTree.Load(yamlText, file), file);

    /// <summary>Reads and parses a file; an unreadable file is refused the same way (line 0).</summary>
    public static Scenario ParseFile(string path)
    {
        string text;
        try
        {
            if (Directory.Exists(path))
                throw new ScenarioException(new ScenarioError { File = path, Message = "cannot read the file: it is a directory" });
            long size = new FileInfo(path).Length;
            if (size > SimLimits.MaxDocumentBytes)
                throw new ScenarioException(new ScenarioError { File = path, Message = $"the file is {CostLimits.Bytes(size)}, more than the {CostLimits.Bytes(SimLimits.MaxDocumentBytes)} a scenario file may be" });
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ScenarioException(new ScenarioError { File = path, Message = "cannot read the file: " + e.Message }, e);
        }
        return Parse(text, path);
    }

    public static bool TryParse(string yamlText, string file, [NotNullWhen(true)] out Scenario? scenario, [NotNullWhen(false)] out ScenarioError? error)
    {
        try
        {
            scenario = Parse(yamlText, file);
            error = null;
            return true;
        }
        catch (ScenarioException e)
        {
            scenario = null;
            error = e.Error;
            return false;
        }
    }

    internal static Scenario Parse(YNode? root, string file)
    {
        if (root is null || root is YScalar { IsNull: true })
            throw YamlTree.Fail(file, new YamlDotNet.Core.Mark(0, 1, 1), "", "the file is empty: a scenario needs at least duration and fleet");
        return new Reader(file).Scenario(root);
    }

    private sealed partial class Reader(string file)
    {
        private static readonly string[] TopFields = ["name", "seed", "duration", "window", "fleet", "events", "maps", "slots", "programs", "consumers", "timeline", "limits"];
        private const long DefaultWindowNs = 100_000_000;
        private const int MaxCpus = SimLimits.MaxCpus;
        private const int PidMax = SimLimits.PidMax;
        private const int MaxRingPages = SimLimits.MaxRingPages;
        private const int PageSize = SimLimits.PageSize;

        private long _durationNs;
        private CostLimits _limits = CostLimits.Default;
        private YNode? _fleetNode;
        private readonly Dictionary<string, YNode> _fireNodes = new(StringComparer.Ordinal);
        private ImmutableArray<HostGroup> _fleet = [];
        private readonly Dictionary<string, EventSpec> _events = new(StringComparer.Ordinal);
        private readonly Dictionary<string, MapSpec> _maps = new(StringComparer.Ordinal);
        private readonly Dictionary<string, ProgramSpec> _programs = new(StringComparer.Ordinal);
        private readonly Dictionary<string, ConsumerSpec> _consumers = new(StringComparer.Ordinal);

        public Scenario Scenario(YNode root)
        {
            var f = new Fields(this, root, "", "a scenario", TopFields);
            if (f["limits"] is { } lim)
                _limits = Limits(lim);
            string name = f["name"] is { } n ? Name(n, "name") : DefaultName();
            ulong seed = f["seed"] is { } s ? UInt64(s, "seed") : 0;
            var durNode = f.Req("duration");
            _durationNs = Duration(durNode, "duration");
            if (_durationNs <= 0)
                throw Fail(durNode, "duration", "must be more than 0");
            long window = Math.Min(DefaultWindowNs, _durationNs);
            YNode windowAt = durNode;
            string windowField = "duration";
            if (f["window"] is { } w)
            {
                window = Duration(w, "window");
                if (window <= 0)
                    throw Fail(w, "window", "must be more than 0");
                windowAt = w;
                windowField = "window";
            }
            if (_durationNs % window != 0)
                throw Fail(windowAt, windowField, $"duration {ScenarioUnits.FormatDuration(_durationNs)} is not a multiple of window {ScenarioUnits.FormatDuration(window)}");

            _fleetNode = f.Req("fleet");
            _fleet = Fleet(_fleetNode);
            CheckFleetCost(_fleetNode);
            if (_durationNs / window > _limits.MaxWindows)
                throw Fail(windowAt, windowField, $"{ScenarioUnits.FormatDuration(_durationNs)} in windows of {ScenarioUnits.FormatDuration(window)} is " +
                    $"{CostLimits.Count(_durationNs / window)} statistics windows, more than the limit of {CostLimits.Count(_limits.MaxWindows)}; " +
                    "use a longer window, or raise limits.max_windows to run it on purpose");
            var events = f["events"] is { } ev ? Named(ev, "events", "events", Event) : [];
            foreach (var e in events)
                _events.Add(e.Name, e);
            var maps = f["maps"] is { } mp ? Named(mp, "maps", "maps", Map) : [];
            foreach (var m in maps)
                _maps.Add(m.Name, m);
            var slots = f["slots"] is { } sl ? SlotsSection(sl) : [];
            var programs = f["programs"] is { } pr ? Named(pr, "programs", "programs", Program) : [];
            foreach (var p in programs)
                _programs.Add(p.Name, p);
            var consumers = f["consumers"] is { } co ? Named(co, "consumers", "consumers", Consumer) : [];
            CheckOneReaderPerEvent(co: f["consumers"], consumers);
            foreach (var c in consumers)
                _consumers.Add(c.Name, c);
            var timeline = f["timeline"] is { } tl ? Timeline(tl) : [];
            var scenario = new Scenario
            {
                Name = name, Seed = seed, DurationNs = _durationNs, WindowNs = window, Fleet = _fleet, Events = events, Maps = maps,
                Slots = slots, Programs = programs, Consumers = consumers, Timeline = timeline,
            };
            CheckCallCost(scenario);
            CheckLockedMemory(scenario);
            return scenario with { Warnings = WakeupWarnings(scenario) };
        }

        private string DefaultName()
        {
            if (file == NoFile || file.Length == 0)
                return "scenario";
            return Path.GetFileNameWithoutExtension(file);
        }

        // ---- limits on what the run costs (docs/limits.md) ----

        private CostLimits Limits(YNode node)
        {
            var m = MapNode(node, "limits", "a mapping of limit names to numbers");
            var limits = CostLimits.Default;
            foreach (var (k, v) in m.Entries)
            {
                string p = "limits." + k.Value;
                if (Array.IndexOf(CostLimits.Keys, k.Value) < 0)
                    throw Fail(k, p, $"unknown limit '{k.Value}'" + Suggest(k.Value, CostLimits.Keys) + "; known limits: " + string.Join(", ", CostLimits.Keys));
                string text = Scalar(v, p, "a number").Replace("_", "", StringComparison.Ordinal);
                if (!double.TryParse(text, NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out double value) ||
                    !double.IsFinite(value) || !limits.TryWith(k.Value, value, out limits))
                    throw Fail(v, p, $"expected a number of at least 1, found '{text}'");
            }
            return limits;
        }

        private void CheckFleetCost(YNode fleetNode)
        {
            long total = 0;
            int biggest = 0;
            for (int i = 0; i < _fleet.Length; i++)
            {
                long n = (long)_fleet[i].Hosts * _fleet[i].Cpus;
                total += n;
                if (n > (long)_fleet[biggest].Hosts * _fleet[biggest].Cpus) biggest = i;
            }
            if (total <= _limits.MaxFleetCpus) return;
            var g = _fleet[biggest];
            var at = fleetNode is YSeq seq ? seq.Items[biggest] : fleetNode;
            throw Fail(at, $"fleet[{biggest}]", $"the fleet has {CostLimits.Count(total)} CPUs (group '{g.Group}': {CostLimits.Count(g.Hosts)} hosts x {CostLimits.Count(g.Cpus)} CPUs), " +
                $"more than the limit of {CostLimits.Count(_limits.MaxFleetCpus)} simulated CPUs; raise limits.max_fleet_cpus to run it on purpose");
        }

        private void CheckCallCost(Scenario s)
        {
            double total = 0, most = -1;
            ProgramSpec? top = null;
            foreach (var p in s.Programs)
            {
                double n = ScenarioCost.HelperCalls(s, p);
                total += n;
                if (n > most) { most = n; top = p; }
            }
            if (top is null || total <= _limits.MaxHelperCalls) return;
            if (top.Fire is TraceFire)
                throw Fail(_fireNodes[top.Name], $"programs.{top.Name}.fire",
                    $"the run would make about {CostLimits.Count(total)} helper calls (program '{top.Name}': {ScenarioCost.Describe(top.Fire)}, " +
                    $"{CostLimits.Count(ScenarioCost.Firings(s, top))} firings over the hosts in {ScenarioUnits.FormatDuration(s.DurationNs)}, {ScenarioCost.CallsPerFiring(top)} per firing), " +
                    $"more than the limit of {CostLimits.Count(_limits.MaxHelperCalls)}; raise limits.max_helper_calls to run it on purpose");
            throw Fail(_fireNodes[top.Name], $"programs.{top.Name}.fire",
                $"the run would make about {CostLimits.Count(total)} helper calls (program '{top.Name}': {ScenarioCost.Describe(top.Fire)} x " +
                $"{CostLimits.Count(ScenarioCost.Cpus(s, top))} CPUs x {ScenarioUnits.FormatDuration(s.DurationNs)} x {ScenarioCost.CallsPerFiring(top)} {(ScenarioCost.CallsPerFiring(top) == 1 ? "call" : "calls")} per firing), " +
                $"more than the limit of {CostLimits.Count(_limits.MaxHelperCalls)}; raise limits.max_helper_calls to run it on purpose");
        }

        // ---- fleet ----

        private ImmutableArray<HostGroup> Fleet(YNode node)
        {
            var seq = Seq(node, "fleet", "a list of host groups");
            if (seq.Items.Count == 0)
                throw Fail(node, "fleet", "needs at least one host group");
            var groups = ImmutableArray.CreateBuilder<HostGroup>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            for (int i = 0; i < seq.Items.Count; i++)
            {
                string path = $"fleet[{i}]";
                var f = new Fields(this, seq.Items[i], path, "a host group", "group", "hosts", "cpus", "tasks", "migrate", "pmu",
                    "page_size", "kernel", "memlock", "cap_ipc_lock");
                var gNode = f.Req("group");
                string group = Name(gNode, f.P("group"));
                if (!names.Add(group))
                    throw Fail(gNode, f.P("group"), $"group '{group}' is defined twice");
                int hosts = f["hosts"] is { } h ? (int)Int(h, f.P("hosts"), 1, SimLimits.MaxHostsPerGroup) : 1;
                int cpus = (int)Int(f.Req("cpus"), f.P("cpus"), 1, MaxCpus);
                var tasks = f["tasks"] is { } t ? Tasks(t, f.P("tasks"), cpus) : [];
                long? migrate = null;
                if (f["migrate"] is { } m)
                {
                    var mf = new Fields(this, m, f.P("migrate"), "{ every: DURATION }", "every");
                    var every = mf.Req("every");
                    migrate = Duration(every, mf.P("every"));
                    if (migrate <= 0)
                        throw Fail(every, mf.P("every"), "must be more than 0");
                }
                bool pmu = f["pmu"] is { } p && Bool(p, f.P("pmu"));
                groups.Add(HostMemoryFields(f, new HostGroup { Group = group, Hosts = hosts, Cpus = cpus, Tasks = tasks, MigrateEveryNs = migrate, Pmu = pmu }));
            }
            // A group named like another group's host would make host references ambiguous.
            for (int i = 0; i < groups.Count; i++)
            {
                if (TrySplitHost(groups[i].Group, out string prefix, out int index) && groups.FirstOrDefault(g => g.Group == prefix) is { } other && index < other.Hosts)
                {
                    var at = ((YMap)seq.Items[i]);
                    throw Fail(at.Entries[at.IndexOf("group")].Value, $"fleet[{i}].group", $"'{groups[i].Group}' is also the name of a host of group '{prefix}'");
                }
            }
            return groups.ToImmutable();
        }

        private ImmutableArray<TaskSpec> Tasks(YNode node, string path, int cpus)
        {
            var seq = Seq(node, path, "a list of tasks");
            var tasks = ImmutableArray.CreateBuilder<TaskSpec>();
            for (int i = 0; i < seq.Items.Count; i++)
            {
                string p = $"{path}[{i}]";
                var f = new Fields(this, seq.Items[i], p, "a task", "comm", "pid", "count", "cpu");
                var commNode = f.Req("comm");
                string comm = Str(commNode, f.P("comm"));
                if (comm.Length == 0 || System.Text.Encoding.UTF8.GetByteCount(comm) > 15)
                    throw Fail(commNode, f.P("comm"), "must be 1 to 15 bytes (TASK_COMM_LEN is 16 with the NUL)");
                var pidNode = f.Req("pid");
                int pid = (int)Int(pidNode, f.P("pid"), 1, PidMax);
                int count = f["count"] is { } c ? (int)Int(c, f.P("count"), 1, PidMax) : 1;
                if ((long)pid + count - 1 > PidMax)
                    throw Fail(f["count"]!, f.P("count"), $"pids {pid}..{(long)pid + count - 1} go past the largest pid {PidMax}");
                int? cpu = f["cpu"] is { } cn ? (int)Int(cn, f.P("cpu"), 0, cpus - 1) : null;
                foreach (var other in tasks)
                {
                    if (pid <= other.Pid + other.Count - 1 && other.Pid <= pid + count - 1)
                        throw Fail(pidNode, f.P("pid"), $"pids {pid}..{pid + count - 1} overlap those of task '{other.Comm}' ({other.Pid}..{other.Pid + other.Count - 1})");
                }
                tasks.Add(new TaskSpec { Comm = comm, Pid = pid, Count = count, Cpu = cpu });
            }
            return tasks.ToImmutable();
        }

        // ---- events and maps ----

        // Perf type, config and sample names are Kernel's (PerfConstants), the same table exec uses.
        private static readonly Dictionary<string, PerfType> PerfTypes = PerfConstants.TypeNameList
            .ToDictionary(n => n, n => PerfConstants.TryLookupType(n, out uint t) ? (PerfType)t : PerfType.Software, StringComparer.Ordinal);

        private static readonly Dictionary<string, ulong> SoftwareConfigs = ConfigTable(PerfConstants.PERF_TYPE_SOFTWARE);
        private static readonly Dictionary<string, ulong> HardwareConfigs = ConfigTable(PerfConstants.PERF_TYPE_HARDWARE);

        private static Dictionary<string, ulong> ConfigTable(uint type) => PerfConstants.ConfigNameList(type)
            .ToDictionary(n => n, n => PerfConstants.TryLookupConfig(type, n, out ulong c) ? c : 0, StringComparer.Ordinal);

        private static readonly Dictionary<string, ulong> SampleBits = PerfConstants.SampleNameList
            .ToDictionary(n => n, n => PerfConstants.TryLookupSampleBit(n, out ulong b) ? b : 0, StringComparer.Ordinal);

        private static readonly Dictionary<string, EventScope> Scopes = new(StringComparer.Ordinal) { ["cpu"] = EventScope.Cpu, ["task"] = EventScope.Task };

        private EventSpec Event(string name, YNode node, string path)
        {
            var f = new Fields(this, node, path, "an event", "type", "config", "per", "comm", "ring_pages", "wakeup_events", "watermark",
                "sample_type", "pinned", "disabled", "overwrite", "inherit");
            PerfType type = f["type"] is { } t ? Enum(t, f.P("type"), PerfTypes) : PerfType.Software;
            if (type == PerfType.Hardware && _fleet.FirstOrDefault(g => !g.Pmu) is { } noPmu)
                throw Fail(f["type"]!, f.P("type"), $"hardware events need a PMU, and group '{noPmu.Group}' has none (pmu: true)");
            ulong config = 10;
            if (f["config"] is { } c)
            {
                var names = type switch { PerfType.Software => SoftwareConfigs, PerfType.Hardware => HardwareConfigs, _ => null };
                config = Scalar(c, f.P("config"), "a config name or number") is var text && TryInteger(text, out ulong num)
                    ? num
                    : names is not null ? Enum(c, f.P("config"), names) : throw Fail(c, f.P("config"), $"expected a number for a {type.ToString().ToLowerInvariant()} event's config, found '{text}'");
            }
            else if (type != PerfType.Software)
            {
                throw f.Missing("config");
            }
            EventScope per = f["per"] is { } pn ? Enum(pn, f.P("per"), Scopes) : EventScope.Cpu;
            string? comm = null;
            if (f["comm"] is { } cm)
            {
                comm = Str(cm, f.P("comm"));
                if (per != EventScope.Task)
                    throw Fail(cm, f.P("comm"), "comm selects tasks: it needs per: task");
                if (!_fleet.Any(g => g.Tasks.Any(k => k.Comm == comm)))
                    throw Fail(cm, f.P("comm"), $"no task has comm '{comm}'");
            }
            if (per == EventScope.Task && !_fleet.Any(g => g.Tasks.Length > 0))
                throw Fail(f["per"]!, f.P("per"), "per: task, but no group of the fleet has tasks");
            int? pages = null;
            if (f["ring_pages"] is { } rp && !(rp is YScalar { IsNull: true }))
            {
                long v = Int(rp, f.P("ring_pages"), 0, MaxRingPages);
                if (v != 0 && (v & (v - 1)) != 0)
                    throw Fail(rp, f.P("ring_pages"), $"{v} is not a power of two (data pages: 1, 2, 4, 8, ...; 0 maps only the metadata page)");
                pages = (int)v;
                _ringPagesNodes[name] = (rp, f.P("ring_pages"));
            }
            int wakeupEvents = f["wakeup_events"] is { } we ? (int)Int(we, f.P("wakeup_events"), 0, int.MaxValue) : 1;
            int? watermark = null;
            if (f["watermark"] is { } wm)
            {
                if (f["wakeup_events"] is not null)
                    throw Fail(wm, f.P("watermark"), "give wakeup_events or watermark, not both");
                // More than the ring is legal: ring_buffer_init caps it at the data size (a warning says what that costs).
                watermark = (int)Int(wm, f.P("watermark"), 1, int.MaxValue);
                _watermarkNodes[name] = (wm, f.P("watermark"));
            }
            ulong sampleType = 1UL << 10;
            if (f["sample_type"] is { } st)
                sampleType = SampleType(st, f.P("sample_type"));
            bool overwrite = f["overwrite"] is { } ow && Bool(ow, f.P("overwrite"));
            if (overwrite && pages is null)
                throw Fail(f["overwrite"]!, f.P("overwrite"), "overwrite describes how the ring is mapped: it needs ring_pages");
            return new EventSpec
            {
                Name = name, Type = type, Config = config, Per = per, Comm = comm, RingPages = pages, WakeupEvents = wakeupEvents,
                Watermark = watermark, SampleType = sampleType,
                Pinned = f["pinned"] is { } pi && Bool(pi, f.P("pinned")),
                Disabled = f["disabled"] is { } di && Bool(di, f.P("disabled")),
                Overwrite = overwrite,
                Inherit = f["inherit"] is { } ih && Bool(ih, f.P("inherit")),
            };
        }

        private ulong SampleType(YNode node, string path)
        {
            if (node is YScalar s)
            {
                if (TryInteger(s.Value, out ulong bits))
                    return bits;
                throw Fail(node, path, $"expected a list of sample fields ({string.Join(", ", SampleBits.Keys)}) or a number, found '{s.Value}'");
            }
            var seq = Seq(node, path, "a list of sample fields");
            ulong v = 0;
            for (int i = 0; i < seq.Items.Count; i++)
                v |= Enum(seq.Items[i], $"{path}[{i}]", SampleBits);
            return v;
        }

        private static readonly Dictionary<string, MapType> MapTypes = new(StringComparer.Ordinal) { ["perf_event_array"] = MapType.PerfEventArray, ["ringbuf"] = MapType.Ringbuf };

        private MapSpec Map(string name, YNode node, string path)
        {
            _mapNodes[name] = (node, path);
            if (node is YMap ym && ym.IndexOf("type") is var ti and >= 0 && ym.Entries[ti].Value is YScalar { Value: "ringbuf" })
                return RingbufMap(name, node, new Fields(this, node, path, "a ringbuf map", "type", "max_entries", "lock_cost", "lock_handoff"));
            var f = new Fields(this, node, path, "a map", "type", "max_entries");
            MapType type = f["type"] is { } t ? Enum(t, f.P("type"), MapTypes) : MapType.PerfEventArray;
            if (type == MapType.Ringbuf) return RingbufMap(name, node, f);
            int? max = null;
            if (f["max_entries"] is { } m)
            {
                if (m is YScalar { Value: "cpus", Style: YamlDotNet.Core.ScalarStyle.Plain })
                    max = null;
                else if (m is YScalar ms && !TryInteger(ms.Value, out _))
                    throw Fail(m, f.P("max_entries"), $"expected a number or 'cpus', found '{ms.Value}'");
                else
                    max = (int)Int(m, f.P("max_entries"), 1, SimLimits.MaxMapEntries);
            }
            return new MapSpec { Name = name, Type = type, MaxEntries = max };
        }

        // ---- slots ----

        private ImmutableArray<SlotsSpec> SlotsSection(YNode node)
        {
            var map = MapNode(node, "slots", "a mapping of map names to layouts");
            var result = ImmutableArray.CreateBuilder<SlotsSpec>();
            foreach (var (k, v) in map.Entries)
            {
                string path = "slots." + k.Value;
                string mapName = DefinedName(k, path, _maps, "map", "maps");
                if (v is YMap vm && (vm.IndexOf("layout") >= 0 || vm.IndexOf("event") >= 0))
                {
                    var f = new Fields(this, v, path, "{ event: NAME, layout: LAYOUT }", "event", "layout");
                    result.Add(Slots(mapName, f["event"], f.Req("layout"), path, f.P("layout"), f.P("event")));
                }
                else
                {
                    result.Add(Slots(mapName, null, v, path, path, path));
                }
            }
            return result.ToImmutable();
        }

        private SlotsSpec Slots(string mapName, YNode? eventNode, YNode layoutNode, string path, string layoutPath, string eventPath)
        {
            MapSpec map = _maps[mapName];
            if (map.Type == MapType.Ringbuf)
                throw Fail(layoutNode, path, $"map '{mapName}' is a ringbuf: it has no slots (one ring for the whole host)");
            SlotLayout layout = Layout(layoutNode, layoutPath, map);
            if (layout is ExplicitLayout)
            {
                if (eventNode is not null)
                    throw Fail(eventNode, eventPath, "an explicit list names its events itself; leave event out");
                return new SlotsSpec { Map = mapName, Event = null, Layout = layout };
            }
            string ev;
            if (eventNode is not null)
            {
                ev = DefinedName(eventNode, eventPath, _events, "event", "events");
                if (_events[ev].Per != EventScope.Cpu)
                    throw Fail(eventNode, eventPath, $"event '{ev}' is per: task; layouts place per-CPU events (use an explicit list of {ev}@PID)");
            }
            else
            {
                var perCpu = _events.Values.Where(e => e.Per == EventScope.Cpu).Select(e => e.Name).ToList();
                if (perCpu.Count == 0)
                    throw Fail(layoutNode, layoutPath, "a layout places a per-CPU event, and no event has per: cpu");
                if (perCpu.Count > 1)
                    throw Fail(layoutNode, layoutPath, $"several per-CPU events ({string.Join(", ", perCpu)}): say which with {{ event: NAME, layout: ... }}");
                ev = perCpu[0];
            }
            _ = path;
            return new SlotsSpec { Map = mapName, Event = ev, Layout = layout };
        }

        private SlotLayout Layout(YNode node, string path, MapSpec map)
        {
            const string forms = "per_cpu, swapped, { shifted: N }, { sparse: [CPU, ...] } or a list of EVENT@INDEX / null";
            switch (node)
            {
                case YScalar { Value: "per_cpu", Style: YamlDotNet.Core.ScalarStyle.Plain }:
                    return new PerCpuLayout();
                case YScalar { Value: "swapped", Style: YamlDotNet.Core.ScalarStyle.Plain }:
                    return new SwappedLayout();
                case YScalar s:
                    throw Fail(node, path, $"expected a slot layout: {forms}; found '{s.Value}'" + Suggest(s.Value, ["per_cpu", "swapped"]));
                case YSeq seq:
                {
                    var entries = ImmutableArray.CreateBuilder<SlotEntry?>();
                    for (int i = 0; i < seq.Items.Count; i++)
                    {
                        string p = $"{path}[{i}]";
                        var item = seq.Items[i];
                        if (map.MaxEntries is int max && i >= max)
                            throw Fail(item, p, $"slot {i} is past max_entries {max} of map '{map.Name}'");
                        if (item is YScalar { IsNull: true })
                        {
                            entries.Add(null);
                            continue;
                        }
                        entries.Add(Entry(item, p));
                    }
                    return new ExplicitLayout { Entries = entries.ToImmutable() };
                }
                default:
                {
                    var f = new Fields(this, node, path, "a slot layout", "shifted", "sparse");
                    if (f.Map.Entries.Count != 1)
                        throw Fail(node, path, "a layout mapping has one key: shifted or sparse");
                    if (f["shifted"] is { } sh)
                        return new ShiftedLayout { Shift = (int)Int(sh, f.P("shifted"), 0, MaxCpus) };
                    var sp = f["sparse"]!;
                    var list = Seq(sp, f.P("sparse"), "a list of CPUs");
                    var cpus = ImmutableArray.CreateBuilder<int>();
                    for (int i = 0; i < list.Items.Count; i++)
                    {
                        string p = $"{f.P("sparse")}[{i}]";
                        int cpu = (int)Int(list.Items[i], p, 0, MaxCpus - 1);
                        CheckCpuOnEveryGroup(list.Items[i], p, cpu, null);
                        if (map.MaxEntries is int max && cpu >= max)
                            throw Fail(list.Items[i], p, $"slot {cpu} is past max_entries {max} of map '{map.Name}'");
                        if (cpus.Contains(cpu))
                            throw Fail(list.Items[i], p, $"CPU {cpu} is listed twice");
                        cpus.Add(cpu);
                    }
                    return new SparseLayout { Cpus = cpus.ToImmutable() };
                }
            }
        }

        private SlotEntry Entry(YNode node, string path)
        {
            string text = Scalar(node, path, "EVENT@INDEX or null");
            int at = text.IndexOf('@');
            if (at <= 0)
                throw Fail(node, path, $"expected EVENT@INDEX (e.g. out@0) or null, found '{text}'");
            string ev = text[..at];
            if (!_events.TryGetValue(ev, out var spec))
                throw Fail(node, path, $"undefined event '{ev}'" + Suggest(ev, _events.Keys) + Known("events", _events.Keys));
            if (!int.TryParse(text[(at + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int index))
                throw Fail(node, path, $"'{text[(at + 1)..]}' after @ is not a CPU or pid number");
            if (spec.Per == EventScope.Cpu)
            {
                CheckCpuOnEveryGroup(node, path, index, null);
            }
            else if (!_fleet.Any(g => g.Tasks.Any(t => (spec.Comm is null || spec.Comm == t.Comm) && index >= t.Pid && index < t.Pid + t.Count)))
            {
                throw Fail(node, path, $"event '{ev}' is per task and no task{(spec.Comm is null ? "" : $" with comm '{spec.Comm}'")} has pid {index}");
            }
            return new SlotEntry { Event = ev, Index = index };
        }

        private void CheckCpuOnEveryGroup(YNode node, string path, int cpu, IEnumerable<HostGroup>? groups)
        {
            foreach (var g in groups ?? _fleet)
            {
                if (cpu >= g.Cpus)
                    throw Fail(node, path, $"CPU {cpu} does not exist on group '{g.Group}' ({g.Cpus} CPU{(g.Cpus == 1 ? "" : "s")})");
            }
        }

        // ---- programs ----

        private static readonly Dictionary<string, ProgramContext> Contexts = new(StringComparer.Ordinal)
        {
            ["task"] = ProgramContext.Task, ["softirq"] = ProgramContext.Softirq, ["hardirq"] = ProgramContext.Hardirq, ["nmi"] = ProgramContext.Nmi,
        };

        private ProgramSpec Program(string name, YNode node, string path)
        {
            var f = new Fields(this, node, path, "a program", "cpus", "groups", "context", "fire", "body", "object", "section");
            var groups = ImmutableArray<string>.Empty;
            IEnumerable<HostGroup> targets = _fleet;
            if (f["groups"] is { } gn)
            {
                var seq = Seq(gn, f.P("groups"), "a list of group names");
                var b = ImmutableArray.CreateBuilder<string>();
                for (int i = 0; i < seq.Items.Count; i++)
                {
                    string p = $"{f.P("groups")}[{i}]";
                    string g = Scalar(seq.Items[i], p, "a group name");
                    if (!_fleet.Any(x => x.Group == g))
                        throw Fail(seq.Items[i], p, $"undefined group '{g}'" + Suggest(g, _fleet.Select(x => x.Group)) + Known("groups", _fleet.Select(x => x.Group)));
                    b.Add(g);
                }
                groups = b.ToImmutable();
                targets = _fleet.Where(x => groups.Contains(x.Group)).ToList();
            }
            var cpus = ImmutableArray<int>.Empty;
            if (f["cpus"] is { } cn && !(cn is YScalar { Value: "all", Style: YamlDotNet.Core.ScalarStyle.Plain }))
            {
                if (cn is YScalar cs)
                    throw Fail(cn, f.P("cpus"), $"expected all or a list of CPUs, found '{cs.Value}'");
                var seq = Seq(cn, f.P("cpus"), "all or a list of CPUs");
                var b = ImmutableArray.CreateBuilder<int>();
                for (int i = 0; i < seq.Items.Count; i++)
                {
                    string p = $"{f.P("cpus")}[{i}]";
                    int cpu = (int)Int(seq.Items[i], p, 0, MaxCpus - 1);
                    CheckCpuOnEveryGroup(seq.Items[i], p, cpu, targets);
                    if (b.Contains(cpu))
                        throw Fail(seq.Items[i], p, $"CPU {cpu} is listed twice");
                    b.Add(cpu);
                }
                if (b.Count == 0)
                    throw Fail(cn, f.P("cpus"), "an empty list attaches the program nowhere; list CPUs or write all");
                cpus = b.ToImmutable();
            }
            ProgramContext context = f["context"] is { } cx ? Enum(cx, f.P("context"), Contexts) : ProgramContext.Task;
            _fireNodes[name] = f.Req("fire");
            FireSpec fire = Fire(_fireNodes[name], f.P("fire"), () => RulesFor(targets, cpus, f["object"] is not null && f["body"] is null));
            var body = ImmutableArray<HelperCall>.Empty;
            string? obj = null, section = null;
            if (f["body"] is { } bodyNode)
            {
                if (f["object"] is { } o)
                    throw Fail(o, f.P("object"), "give body or object, not both");
                if (f["section"] is { } s)
                    throw Fail(s, f.P("section"), "section belongs with object");
                body = Body(bodyNode, f.P("body"));
            }
            else if (f["object"] is { } o)
            {
                obj = Str(o, f.P("object"));
                if (obj.Length == 0)
                    throw Fail(o, f.P("object"), "must name a BPF object file");
                // Relative to the scenario file, as users write it; the engine may run in another directory.
                if (file != NoFile && !Path.IsPathRooted(obj))
                    obj = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(file)) ?? ".", obj));
                if (Path.IsPathRooted(obj))
                    CheckObjectFile(o, f.P("object"), obj);
                section = Str(f.Req("section"), f.P("section"));
            }
            else
            {
                throw Fail(node, path, "a program needs a body (helper calls) or an object and section");
            }
            return new ProgramSpec { Name = name, Cpus = cpus, Groups = groups, Context = context, Fire = fire, Body = body, Object = obj, Section = section };
        }

        // Refused here, before a silo starts; the loader validates the rest when the run boots its hosts.
        private void CheckObjectFile(YNode node, string path, string obj)
        {
            if (Directory.Exists(obj))
                throw Fail(node, path, $"{obj} is a directory, not a BPF object file");
            Span<byte> magic = stackalloc byte[4];
            try
            {
                using var fs = File.OpenRead(obj);
                if (fs.ReadAtLeast(magic, 4, throwOnEndOfStream: false) < 4 || magic[0] != 0x7f || magic[1] != (byte)'E' || magic[2] != (byte)'L' || magic[3] != (byte)'F')
                    throw Fail(node, path, $"{obj} is not an ELF file (a BPF object built by clang -target bpf)");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Fail(node, path, $"cannot read {obj}: {e.Message}");
            }
        }

        private static readonly string[] Processes = ["constant", "poisson", "bursts", "piecewise", "trace", "rates"];

        private FireSpec Fire(YNode node, string path, Func<TraceRules> rules)
        {
            var m = MapNode(node, path, "{ process: ..., ... }");
            int pi = m.IndexOf("process");
            if (pi < 0)
                throw Fail(node, path + ".process", "missing required field 'process' (" + string.Join(", ", Processes) + ")");
            var processNode = m.Entries[pi].Value;
            string process = Scalar(processNode, path + ".process", "a firing process");
            switch (process)
            {
                case "constant":
                case "poisson":
                {
                    var f = new Fields(this, node, path, "a firing process", "process", "rate");
                    double rate = Rate(f.Req("rate"), f.P("rate"));
                    return process == "constant" ? new ConstantFire { RatePerSec = rate } : new PoissonFire { RatePerSec = rate };
                }
                case "bursts":
                {
                    var f = new Fields(this, node, path, "a firing process", "process", "size", "every");
                    int size = (int)Int(f.Req("size"), f.P("size"), 1, int.MaxValue);
                    var everyNode = f.Req("every");
                    long every = Duration(everyNode, f.P("every"));
                    if (every <= 0)
                        throw Fail(everyNode, f.P("every"), "must be more than 0");
                    return new BurstsFire { Size = size, EveryNs = every };
                }
                case "piecewise":
                {
                    var f = new Fields(this, node, path, "a firing process", "process", "steps", "within");
                    bool poisson = true;
                    if (f["within"] is { } w)
                        poisson = Enum(w, f.P("within"), new Dictionary<string, bool>(StringComparer.Ordinal) { ["poisson"] = true, ["constant"] = false });
                    var seq = Seq(f.Req("steps"), f.P("steps"), "a list of { at, rate }");
                    if (seq.Items.Count == 0)
                        throw Fail(seq, f.P("steps"), "needs at least one step");
                    var steps = ImmutableArray.CreateBuilder<RateStep>();
                    for (int i = 0; i < seq.Items.Count; i++)
                    {
                        string p = $"{f.P("steps")}[{i}]";
                        var sf = new Fields(this, seq.Items[i], p, "a step { at, rate }", "at", "rate");
                        var atNode = sf.Req("at");
                        long at = At(atNode, sf.P("at"));
                        if (steps.Count > 0 && at <= steps[^1].AtNs)
                            throw Fail(atNode, sf.P("at"), $"steps must be in increasing time: {ScenarioUnits.FormatDuration(at)} is not after {ScenarioUnits.FormatDuration(steps[^1].AtNs)}");
                        steps.Add(new RateStep { AtNs = at, RatePerSec = Rate(sf.Req("rate"), sf.P("rate")) });
                    }
                    return new PiecewiseFire { Steps = steps.ToImmutable(), Poisson = poisson };
                }
                case "trace":
                    return TraceFireOf(node, path, rules());
                case "rates":
                    return RatesFireOf(node, path, rules());
                default:
                    throw Fail(processNode, path + ".process", $"unknown process '{process}'" + Suggest(process, Processes) + "; expected one of " + string.Join(", ", Processes));
            }
        }

        private static readonly string[] Helpers = ["perf_event_output", "perf_event_read", "perf_event_read_value", "trace_printk", "trace_vprintk", "snprintf", "ringbuf_output", "ringbuf_reserve", "ringbuf_submit", "ringbuf_discard"];

        private ImmutableArray<HelperCall> Body(YNode node, string path)
        {
            var seq = Seq(node, path, "a list of helper calls");
            var calls = ImmutableArray.CreateBuilder<HelperCall>();
            var held = new Stack<(YNode Node, string Path)>(); // ringbuf reservations not yet released
            for (int i = 0; i < seq.Items.Count; i++)
            {
                string p = $"{path}[{i}]";
                var m = MapNode(seq.Items[i], p, "a helper call such as { perf_event_output: { ... } }");
                if (m.Entries.Count != 1)
                    throw Fail(m, p, "each body entry is one helper call: { HELPER: { ... } }");
                var (k, v) = (m.Entries[0].Key, m.Entries[0].Value);
                string hp = p + "." + k.Value;
                calls.Add(k.Value switch
                {
                    "perf_event_output" => Output(v, hp),
                    "perf_event_read" => Read(v, hp),
                    "perf_event_read_value" => ReadValue(v, hp),
                    "trace_printk" => new TracePrintkCall { Fmt = Printf(v, hp, 3, out var a1), Args = a1 },
                    "trace_vprintk" => new TraceVprintkCall { Fmt = Printf(v, hp, 16, out var a2), Args = a2 },
                    "snprintf" => Snprintf(v, hp),
                    "ringbuf_output" => RingbufOutput(v, hp),
                    "ringbuf_reserve" => RingbufReserve(v, hp, held),
                    "ringbuf_submit" or "ringbuf_discard" => RingbufRelease(k, v, hp, held),
                    _ => throw Fail(k, hp, $"unknown helper '{k.Value}'" + Suggest(k.Value, Helpers) + "; expected one of " + string.Join(", ", Helpers)),
                });
            }
            if (held.Count > 0) throw UnreleasedReservation(held.Peek().Node, held.Peek().Path);
            return calls.ToImmutable();
        }

        private HelperCall Output(YNode node, string path)
        {
            var f = new Fields(this, node, path, "perf_event_output's fields", "map", "flags", "size");
            string map = PerfMapName(f.Req("map"), f.P("map"));
            ulong flags = f["flags"] is { } fl ? Flags(fl, f.P("flags")) : 0xffffffffUL;
            var size = OutputSize(f);
            return new PerfEventOutputCall { Map = map, Flags = flags, Size = size };
        }

        // An output's size: N bytes, or { uniform: [MIN, MAX] } (perf_event_output, ringbuf_output).
        private SizeSpec OutputSize(Fields f)
        {
            var sizeNode = f.Req("size");
            SizeSpec size;
            if (sizeNode is YMap)
            {
                var sf = new Fields(this, sizeNode, f.P("size"), "N or { uniform: [MIN, MAX] }", "uniform");
                var u = Seq(sf.Req("uniform"), sf.P("uniform"), "[MIN, MAX]");
                if (u.Items.Count != 2)
                    throw Fail(u, sf.P("uniform"), "expected [MIN, MAX]: two sizes in bytes");
                int lo = (int)Int(u.Items[0], sf.P("uniform") + "[0]", 0, SimLimits.MaxDataBytes);
                int hi = (int)Int(u.Items[1], sf.P("uniform") + "[1]", 0, SimLimits.MaxDataBytes);
                if (hi < lo)
                    throw Fail(u.Items[1], sf.P("uniform") + "[1]", $"the largest size {hi} is below the smallest {lo}");
                size = new SizeSpec { Min = lo, Max = hi };
            }
            else
            {
                size = SizeSpec.Fixed((int)Int(sizeNode, f.P("size"), 0, SimLimits.MaxDataBytes));
            }
            return size;
        }

        private HelperCall Read(YNode node, string path)
        {
            var f = new Fields(this, node, path, "perf_event_read's fields", "map", "flags");
            return new PerfEventReadCall
            {
                Map = PerfMapName(f.Req("map"), f.P("map")),
                Flags = f["flags"] is { } fl ? Flags(fl, f.P("flags")) : 0xffffffffUL,
            };
        }

        private HelperCall ReadValue(YNode node, string path)
        {
            var f = new Fields(this, node, path, "perf_event_read_value's fields", "map", "flags", "size");
            return new PerfEventReadValueCall
            {
                Map = PerfMapName(f.Req("map"), f.P("map")),
                Flags = f["flags"] is { } fl ? Flags(fl, f.P("flags")) : 0xffffffffUL,
                Size = f["size"] is { } s ? (int)Int(s, f.P("size"), 1, 4096) : 24,
            };
        }

        private HelperCall Snprintf(YNode node, string path)
        {
            var f = new Fields(this, node, path, "snprintf's fields", "fmt", "args", "size");
            string fmt = Str(f.Req("fmt"), f.P("fmt"));
            var args = f["args"] is { } a ? Args(a, f.P("args"), 16) : [];
            int size = f["size"] is { } s ? (int)Int(s, f.P("size"), 0, 1 << 16) : 128;
            return new SnprintfCall { Fmt = fmt, Args = args, Size = size };
        }

        private string Printf(YNode node, string path, int maxArgs, out ImmutableArray<FormatArg> args)
        {
            var f = new Fields(this, node, path, "the call's fields", "fmt", "args");
            string fmt = Str(f.Req("fmt"), f.P("fmt"));
            args = f["args"] is { } a ? Args(a, f.P("args"), maxArgs) : [];
            return fmt;
        }

        private static readonly Dictionary<string, FormatArgKind> ArgKeywords = new(StringComparer.Ordinal)
        {
            ["pid"] = FormatArgKind.Pid, ["tid"] = FormatArgKind.Tid, ["cpu"] = FormatArgKind.Cpu, ["counter"] = FormatArgKind.Counter,
            ["random"] = FormatArgKind.Random, ["time"] = FormatArgKind.Time, ["comm"] = FormatArgKind.Comm,
        };

        private ImmutableArray<FormatArg> Args(YNode node, string path, int max)
        {
            var seq = Seq(node, path, "a list of arguments");
            if (seq.Items.Count > max)
                throw Fail(seq.Items[max], $"{path}[{max}]", $"at most {max} arguments" + (max == 3 ? " (bpf_trace_printk has three argument registers)" : " (16 x 8 bytes is the largest args buffer modelled)"));
            var args = ImmutableArray.CreateBuilder<FormatArg>();
            for (int i = 0; i < seq.Items.Count; i++)
            {
                string p = $"{path}[{i}]";
                var item = seq.Items[i];
                if (item is YMap)
                {
                    var f = new Fields(this, item, p, "{ str: TEXT }", "str");
                    args.Add(new FormatArg { Kind = FormatArgKind.String, Text = Str(f.Req("str"), f.P("str")) });
                    continue;
                }
                string text = Scalar(item, p, "an argument");
                if (ArgKeywords.TryGetValue(text, out var kind) && item is YScalar { Style: YamlDotNet.Core.ScalarStyle.Plain })
                    args.Add(new FormatArg { Kind = kind });
                else if (TryInteger(text, out ulong v))
                    args.Add(new FormatArg { Kind = FormatArgKind.Constant, Value = v });
                else
                    throw Fail(item, p, $"expected {string.Join(", ", ArgKeywords.Keys)}, an integer or {{ str: TEXT }}; found '{text}'" + Suggest(text, ArgKeywords.Keys));
            }
            return args.ToImmutable();
        }

        // ---- consumers ----

        private static readonly Dictionary<string, TailUpdate> TailUpdates = new(StringComparer.Ordinal)
        {
            ["per_batch"] = TailUpdate.PerBatch, ["per_record"] = TailUpdate.PerRecord,
        };

        private ConsumerSpec Consumer(string name, YNode node, string path)
        {
            var f = new Fields(this, node, path, "a consumer", "events", "ringbuf", "cpu", "service", "tail_update", "wakeup_latency", "poll_timeout",
                "cpu_load", "pauses", "service_per_kib", "poll");
            if (f["ringbuf"] is { } rbNode) return RingbufConsumer(name, node, f, rbNode);
            var evNode = f.Req("events");
            var events = ImmutableArray.CreateBuilder<string>();
            var evItems = evNode is YSeq es ? es.Items.Select((n, i) => (n, $"{f.P("events")}[{i}]")).ToList() : [(evNode, f.P("events"))];
            if (evItems.Count == 0)
                throw Fail(evNode, f.P("events"), "needs at least one event");
            foreach (var (n, p) in evItems)
            {
                string ev = DefinedName(n, p, _events, "event", "events");
                var spec = _events[ev];
                if (spec.RingPages is null or 0)
                    throw Fail(n, p, $"event '{ev}' has no ring to read: give it ring_pages");
                if (spec.Overwrite)
                    throw Fail(n, p, $"event '{ev}' is an overwrite ring (mapped read-only): a perf_buffer reader cannot consume it");
                if (events.Contains(ev))
                    throw Fail(n, p, $"event '{ev}' is listed twice");
                events.Add(ev);
            }
            TailUpdate tail = f["tail_update"] is { } tu ? Enum(tu, f.P("tail_update"), TailUpdates) : TailUpdate.PerBatch;
            return ReaderFields(f) with { Name = name, Events = events.ToImmutable(), TailUpdate = tail, Model = ReaderModelFields(f) };
        }

        /// <summary>What every reader has, perf_buffer or ring_buffer: its CPU, service time, wake-up latency and poll timeout.</summary>
        private ConsumerSpec ReaderFields(Fields f)
        {
            var spec = new ConsumerSpec();
            int cpu = 0;
            if (f["cpu"] is { } cn)
            {
                cpu = (int)Int(cn, f.P("cpu"), 0, MaxCpus - 1);
                CheckCpuOnEveryGroup(cn, f.P("cpu"), cpu, null);
            }
            ServiceSpec service = f["service"] is { } sv ? Service(sv, f.P("service")) : new FixedService { Ns = 0 };
            long latency = f["wakeup_latency"] is { } wl ? Duration(wl, f.P("wakeup_latency")) : 0;
            long poll = spec.PollTimeoutNs;
            if (f["poll_timeout"] is { } pt)
            {
                poll = Duration(pt, f.P("poll_timeout"));
                if (poll <= 0)
                    throw Fail(pt, f.P("poll_timeout"), "must be more than 0");
            }
            return spec with { Cpu = cpu, Service = service, WakeupLatencyNs = latency, PollTimeoutNs = poll };
        }

        private void CheckOneReaderPerEvent(YNode? co, ImmutableArray<ConsumerSpec> consumers)
        {
            var seen = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var c in consumers)
            {
                foreach (var e in c.Events)
                {
                    if (seen.TryGetValue(e, out string? first))
                    {
                        var entry = ((YMap)co!).Entries.First(x => x.Key.Value == c.Name).Value;
                        var evNode = ((YMap)entry).Entries.First(x => x.Key.Value == "events").Value;
                        throw Fail(evNode, $"consumers.{c.Name}.events", $"event '{e}' is already read by consumer '{first}': one reader per ring");
                    }
                    seen[e] = c.Name;
                }
            }
        }

        private ServiceSpec Service(YNode node, string path)
        {
            var f = new Fields(this, node, path, "{ fixed: D } | { exponential: MEAN } | { uniform: [A, B] }", "fixed", "exponential", "uniform");
            if (f.Map.Entries.Count != 1)
                throw Fail(node, path, "give one of fixed, exponential, uniform");
            if (f["fixed"] is { } fx)
                return new FixedService { Ns = Duration(fx, f.P("fixed")) };
            if (f["exponential"] is { } ex)
            {
                long mean = Duration(ex, f.P("exponential"));
                if (mean <= 0)
                    throw Fail(ex, f.P("exponential"), "the mean must be more than 0");
                return new ExponentialService { MeanNs = mean };
            }
            var u = Seq(f["uniform"]!, f.P("uniform"), "[A, B]");
            if (u.Items.Count != 2)
                throw Fail(u, f.P("uniform"), "expected [A, B]: two durations");
            long a = Duration(u.Items[0], f.P("uniform") + "[0]");
            long b = Duration(u.Items[1], f.P("uniform") + "[1]");
            if (b < a)
                throw Fail(u.Items[1], f.P("uniform") + "[1]", $"{ScenarioUnits.FormatDuration(b)} is below {ScenarioUnits.FormatDuration(a)}");
            return new UniformService { MinNs = a, MaxNs = b };
        }

        // ---- timeline ----

        private static readonly string[] Actions = ["cpu_offline", "cpu_online", "slots", "consumer_stall", "rate", "task_migrate", "event_disable", "event_enable"];

        private ImmutableArray<TimelineAction> Timeline(YNode node)
        {
            var seq = Seq(node, "timeline", "a list of { at: TIME, ACTION: { ... } }");
            var list = new List<TimelineAction>();
            for (int i = 0; i < seq.Items.Count; i++)
            {
                string path = $"timeline[{i}]";
                var m = MapNode(seq.Items[i], path, "{ at: TIME, ACTION: { ... } }");
                var actionKeys = m.Entries.Where(e => e.Key.Value != "at").ToList();
                string[] known = ["at", .. Actions];
                var f = new Fields(this, m, path, "a timeline entry", known);
                long at = At(f.Req("at"), f.P("at"));
                if (actionKeys.Count == 0)
                    throw Fail(m, path, "no action: expected one of " + string.Join(", ", Actions));
                if (actionKeys.Count > 1)
                    throw Fail(actionKeys[1].Key, path + "." + actionKeys[1].Key.Value, $"one action per entry; this one already has {actionKeys[0].Key.Value}");
                var (k, v) = (actionKeys[0].Key, actionKeys[0].Value);
                list.Add(Action(k.Value, v, path + "." + k.Value, at));
            }
            // Stable: same-time actions keep file order.
            return [.. list.Select((a, i) => (a, i)).OrderBy(x => x.a.AtNs).ThenBy(x => x.i).Select(x => x.a)];
        }

        private TimelineAction Action(string kind, YNode node, string path, long at)
        {
            switch (kind)
            {
                case "cpu_offline":
                case "cpu_online":
                {
                    var f = new Fields(this, node, path, kind + "'s fields", "host", "cpu");
                    var (host, groups) = Host(f["host"], f.P("host"));
                    var cpuNode = f.Req("cpu");
                    int cpu = (int)Int(cpuNode, f.P("cpu"), 0, MaxCpus - 1);
                    CheckCpuOnEveryGroup(cpuNode, f.P("cpu"), cpu, groups);
                    return kind == "cpu_offline" ? new CpuOfflineAction { AtNs = at, Host = host, Cpu = cpu } : new CpuOnlineAction { AtNs = at, Host = host, Cpu = cpu };
                }
                case "slots":
                {
                    var f = new Fields(this, node, path, "slots' fields", "host", "map", "event", "layout");
                    var (host, _) = Host(f["host"], f.P("host"));
                    string map = PerfMapName(f.Req("map"), f.P("map"));
                    var slots = Slots(map, f["event"], f.Req("layout"), path, f.P("layout"), f.P("event"));
                    return new SlotsAction { AtNs = at, Host = host, Slots = slots };
                }
                case "consumer_stall":
                {
                    var f = new Fields(this, node, path, "consumer_stall's fields", "host", "consumer", "for");
                    var (host, _) = Host(f["host"], f.P("host"));
                    string consumer = DefinedName(f.Req("consumer"), f.P("consumer"), _consumers, "consumer", "consumers");
                    if (_consumers[consumer].Ringbuf is not null)
                        throw Fail(f.Req("consumer"), f.P("consumer"), $"consumer '{consumer}' reads a ringbuf: consumer_stall is simulated for perf_buffer readers only");
                    var forNode = f.Req("for");
                    long dur = Duration(forNode, f.P("for"));
                    if (dur <= 0)
                        throw Fail(forNode, f.P("for"), "must be more than 0");
                    return new ConsumerStallAction { AtNs = at, Host = host, Consumer = consumer, ForNs = dur };
                }
                case "rate":
                {
                    var f = new Fields(this, node, path, "rate's fields", "program", "rate");
                    var pn = f.Req("program");
                    string program = DefinedName(pn, f.P("program"), _programs, "program", "programs");
                    if (_programs[program].Fire is not (ConstantFire or PoissonFire))
                        throw Fail(pn, f.P("program"), $"program '{program}' fires in bursts or steps; rate changes a constant or poisson process");
                    return new RateAction { AtNs = at, Program = program, RatePerSec = Rate(f.Req("rate"), f.P("rate")) };
                }
                case "task_migrate":
                {
                    var f = new Fields(this, node, path, "task_migrate's fields", "host", "pid", "to");
                    var (host, groups) = Host(f["host"], f.P("host"));
                    var pidNode = f.Req("pid");
                    int pid = (int)Int(pidNode, f.P("pid"), 1, PidMax);
                    foreach (var g in groups)
                    {
                        if (!g.Tasks.Any(t => pid >= t.Pid && pid < t.Pid + t.Count))
                            throw Fail(pidNode, f.P("pid"), $"group '{g.Group}' has no task with pid {pid}");
                    }
                    var toNode = f.Req("to");
                    int to = (int)Int(toNode, f.P("to"), 0, MaxCpus - 1);
                    CheckCpuOnEveryGroup(toNode, f.P("to"), to, groups);
                    return new TaskMigrateAction { AtNs = at, Host = host, Pid = pid, ToCpu = to };
                }
                case "event_disable":
                case "event_enable":
                {
                    var f = new Fields(this, node, path, kind + "'s fields", "host", "event", "cpu");
                    var (host, groups) = Host(f["host"], f.P("host"));
                    string ev = DefinedName(f.Req("event"), f.P("event"), _events, "event", "events");
                    int? cpu = null;
                    if (f["cpu"] is { } cn)
                    {
                        if (_events[ev].Per != EventScope.Cpu)
                            throw Fail(cn, f.P("cpu"), $"event '{ev}' is per task: it has no per-CPU instances to pick");
                        cpu = (int)Int(cn, f.P("cpu"), 0, MaxCpus - 1);
                        CheckCpuOnEveryGroup(cn, f.P("cpu"), cpu.Value, groups);
                    }
                    return kind == "event_disable"
                        ? new EventDisableAction { AtNs = at, Host = host, Event = ev, Cpu = cpu }
                        : new EventEnableAction { AtNs = at, Host = host, Event = ev, Cpu = cpu };
                }
                default:
                    throw new InvalidOperationException(kind);
            }
        }

        private long At(YNode node, string path)
        {
            long at = Duration(node, path);
            if (at >= _durationNs)
                throw Fail(node, path, $"{ScenarioUnits.FormatDuration(at)} is not before the end of the scenario (duration {ScenarioUnits.FormatDuration(_durationNs)})");
            return at;
        }

        private (HostSelector Host, List<HostGroup> Groups) Host(YNode? node, string path)
        {
            if (node is null)
                return (HostSelector.All, _fleet.ToList());
            string text = Scalar(node, path, "a host or group name");
            if (_fleet.FirstOrDefault(g => g.Group == text) is { } group)
                return (new HostSelector { Group = text }, [group]);
            if (TrySplitHost(text, out string prefix, out int index) && _fleet.FirstOrDefault(g => g.Group == prefix) is { } hg)
            {
                if (index >= hg.Hosts)
                    throw Fail(node, path, $"no host '{text}': group '{prefix}' has hosts {prefix}-0 .. {prefix}-{hg.Hosts - 1}");
                return (new HostSelector { Group = prefix, Index = index }, [hg]);
            }
            var names = _fleet.Select(g => g.Group).ToList();
            throw Fail(node, path, $"undefined host '{text}': hosts are named GROUP-INDEX (e.g. {_fleet[0].HostName(0)}), or name a whole group: " + string.Join(", ", names));
        }

        private static bool TrySplitHost(string text, out string group, out int index)
        {
            int dash = text.LastIndexOf('-');
            group = dash > 0 ? text[..dash] : "";
            index = 0;
            return dash > 0 && int.TryParse(text[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out index);
        }

        // ---- named sections and scalars ----

        private ImmutableArray<T> Named<T>(YNode node, string path, string what, Func<string, YNode, string, T> read)
        {
            var map = MapNode(node, path, $"a mapping of {what} by name");
            var result = ImmutableArray.CreateBuilder<T>();
            foreach (var (k, v) in map.Entries)
            {
                string p = path + "." + k.Value;
                result.Add(read(Name(k, p), v, p));
            }
            return result.ToImmutable();
        }

        private string DefinedName<T>(YNode node, string path, Dictionary<string, T> defined, string what, string section)
        {
            string name = Scalar(node, path, $"a {what} name");
            if (!defined.ContainsKey(name))
                throw Fail(node, path, $"undefined {what} '{name}'" + Suggest(name, defined.Keys) + Known(section, defined.Keys));
            return name;
        }

        private static string Known(string section, IEnumerable<string> names)
        {
            var list = names.ToList();
            return list.Count == 0 ? $" (no {section} are defined)" : $" ({section} defined: {string.Join(", ", list)})";
        }

        private string Name(YNode node, string path)
        {
            string s = Scalar(node, path, "a name");
            if (s.Length == 0 || !s.All(c => char.IsAsciiLetterOrDigit(c) || c == '_' || c == '-') || s[0] == '-')
                throw Fail(node, path, $"'{s}' is not a valid name: use letters, digits, '_' and '-' (not first)");
            return s;
        }

        private string Str(YNode node, string path)
        {
            if (node is not YScalar s)
                throw Fail(node, path, $"expected a string, found {node.KindName}");
            if (s.IsNull)
                throw Fail(node, path, "expected a string, found null");
            return s.Value;
        }

        private string Scalar(YNode node, string path, string what)
        {
            if (node is not YScalar s)
                throw Fail(node, path, $"expected {what}, found {node.KindName}");
            if (s.IsNull)
                throw Fail(node, path, $"expected {what}, found null");
            return s.Value;
        }

        private long Int(YNode node, string path, long min, long max)
        {
            string text = Scalar(node, path, "an integer");
            if (!TryInteger(text, out ulong raw) || (text.TrimStart().StartsWith('-') ? (long)raw > 0 : raw > long.MaxValue))
                throw Fail(node, path, $"expected an integer, found '{text}'");
            long v = (long)raw;
            if (v < min || v > max)
            {
                string range = max >= int.MaxValue ? $"at least {min}" : min == max ? $"{min}" : $"between {min} and {max}";
                throw Fail(node, path, $"{v} is out of range: must be {range}");
            }
            return v;
        }

        private ulong UInt64(YNode node, string path)
        {
            string text = Scalar(node, path, "an integer");
            if (text.TrimStart().StartsWith('-') || !TryInteger(text, out ulong v))
                throw Fail(node, path, $"expected an unsigned 64-bit integer, found '{text}'");
            return v;
        }

        /// <summary>Decimal or 0x hex, optional '-' (two's complement) and '_' separators.</summary>
        internal static bool TryInteger(string text, out ulong value)
        {
            value = 0;
            string t = text.Trim().Replace("_", "", StringComparison.Ordinal);
            bool neg = t.StartsWith('-');
            if (neg)
                t = t[1..];
            bool ok = t.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
                ? t.Length > 2 && ulong.TryParse(t.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value)
                : t.Length > 0 && ulong.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out value);
            if (!ok)
                return false;
            if (neg)
            {
                if (value > 1UL << 63)
                    return false;
                value = unchecked(0UL - value);
            }
            return true;
        }

        private bool Bool(YNode node, string path)
        {
            string text = Scalar(node, path, "true or false");
            return text switch
            {
                "true" => true,
                "false" => false,
                _ => throw Fail(node, path, $"expected true or false, found '{text}'"),
            };
        }

        private long Duration(YNode node, string path)
        {
            string text = Scalar(node, path, "a duration such as 250us");
            if (!ScenarioUnits.TryParseDuration(text, out long ns, out string error))
                throw Fail(node, path, error);
            return ns;
        }

        private double Rate(YNode node, string path)
        {
            string text = Scalar(node, path, "a rate such as 20000/s");
            if (!ScenarioUnits.TryParseRate(text, out double r, out string error))
                throw Fail(node, path, error);
            return r;
        }

        private static readonly Dictionary<string, ulong> FlagNames = new(StringComparer.Ordinal)
        {
            // The names scenarios accept; the values are Kernel's (BpfFlags).
            ["BPF_F_INDEX_MASK"] = BpfFlags.BPF_F_INDEX_MASK, ["BPF_F_CURRENT_CPU"] = BpfFlags.BPF_F_CURRENT_CPU, ["BPF_F_CTXLEN_MASK"] = BpfFlags.BPF_F_CTXLEN_MASK,
        };

        private ulong Flags(YNode node, string path)
        {
            string text = Scalar(node, path, "flags");
            ulong v = 0;
            foreach (string part in text.Split('|'))
            {
                string p = part.Trim();
                if (FlagNames.TryGetValue(p, out ulong f) || TryInteger(p, out f))
                {
                    v |= f;
                    continue;
                }
                throw Fail(node, path, $"unknown flag '{p}'" + Suggest(p, FlagNames.Keys) + "; expected a number or " + string.Join(", ", FlagNames.Keys) + ", combined with |");
            }
            return v;
        }

        private T Enum<T>(YNode node, string path, Dictionary<string, T> names)
        {
            string text = Scalar(node, path, "one of " + string.Join(", ", names.Keys));
            if (names.TryGetValue(text, out T? v))
                return v;
            throw Fail(node, path, $"unknown value '{text}'" + Suggest(text, names.Keys) + "; expected one of " + string.Join(", ", names.Keys));
        }

        private YSeq Seq(YNode node, string path, string what) =>
            node as YSeq ?? throw Fail(node, path, $"expected {what}, found {Describe(node)}");

        private YMap MapNode(YNode node, string path, string what) =>
            node as YMap ?? throw Fail(node, path, $"expected {what}, found {Describe(node)}");

        internal static string Describe(YNode node) => node switch
        {
            YScalar { IsNull: true } => "null",
            YScalar s => $"'{s.Value}'",
            _ => node.KindName,
        };

        public ScenarioException Fail(YNode node, string path, string message) => YamlTree.Fail(file, node.Start, path, message);

        internal sealed class Fields
        {
            private readonly Reader _r;

            public Fields(Reader r, YNode node, string path, string what, params string[] known)
            {
                _r = r;
                Path = path;
                Map = node as YMap ?? throw r.Fail(node, path, $"expected {what} (a mapping), found {Describe(node)}");
                foreach (var (k, _) in Map.Entries)
                {
                    if (Array.IndexOf(known, k.Value) < 0)
                        throw r.Fail(k, P(k.Value), $"unknown field '{k.Value}'" + Suggest(k.Value, known) + "; known fields: " + string.Join(", ", known));
                }
            }

            public YMap Map { get; }

            public string Path { get; }

            public YNode? this[string key] => Map.IndexOf(key) is var i and >= 0 ? Map.Entries[i].Value : null;

            public string P(string key) => Path.Length == 0 ? key : Path + "." + key;

            public YNode Req(string key) => this[key] ?? throw Missing(key);

            public ScenarioException Missing(string key) => _r.Fail(Map, P(key), $"missing required field '{key}'");
        }
    }

    /// <summary>" (did you mean 'x'?)" for the closest name within a small edit distance, else "" (Kernel's one rule).</summary>
    internal static string Suggest(string given, IEnumerable<string> known) => NameSuggest.DidYouMean(given, known, '\'');
}
