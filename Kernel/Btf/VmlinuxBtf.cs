namespace BpfTraceSim.Kernel.Btf;

/// <summary>
/// The simulated vmlinux BTF: the kernel types the kernel's own BTF printing tests use, with their
/// x86_64 layouts. Built fresh per world so a world's "btf_types" can extend it.
/// </summary>
public static class VmlinuxBtf
{
    /// <summary>The type names every world's BTF starts with (docs/kernel-semantics.md §9's table uses these).</summary>
    public static Btf Create()
    {
        var b = new Btf();
        const BtfIntEncoding S = BtfIntEncoding.Signed;
        // Base types as pahole emits them. char is unsigned: the kernel builds with -funsigned-char since 6.2.
        uint i32 = b.Add(BtfType.Int("int", 4, S));
        uint u32 = b.Add(BtfType.Int("unsigned int", 4));
        uint ch = b.Add(BtfType.Int("char", 1));
        uint sch = b.Add(BtfType.Int("signed char", 1, S));
        uint uch = b.Add(BtfType.Int("unsigned char", 1));
        uint s16 = b.Add(BtfType.Int("short int", 2, S));
        uint u16 = b.Add(BtfType.Int("short unsigned int", 2));
        uint s64 = b.Add(BtfType.Int("long long int", 8, S));
        uint u64 = b.Add(BtfType.Int("long long unsigned int", 8));
        b.Add(BtfType.Int("long int", 8, S));
        uint ul = b.Add(BtfType.Int("long unsigned int", 8));
        uint boolT = b.Add(BtfType.Int("_Bool", 1, BtfIntEncoding.Bool));

        uint tu8 = b.Add(BtfType.Typedef("__u8", uch));
        b.Add(BtfType.Typedef("__s8", sch));
        uint tu16 = b.Add(BtfType.Typedef("__u16", u16));
        uint ts16 = b.Add(BtfType.Typedef("__s16", s16));
        uint tu32 = b.Add(BtfType.Typedef("__u32", u32));
        uint ts32 = b.Add(BtfType.Typedef("__s32", i32));
        uint tu64 = b.Add(BtfType.Typedef("__u64", u64));
        b.Add(BtfType.Typedef("__s64", s64));
        b.Add(BtfType.Typedef("u8", tu8));
        b.Add(BtfType.Typedef("u16", tu16));
        b.Add(BtfType.Typedef("u32", tu32));
        uint ku64 = b.Add(BtfType.Typedef("u64", tu64));
        b.Add(BtfType.Typedef("s32", ts32));
        b.Add(BtfType.Typedef("s64", s64));
        b.Add(BtfType.Typedef("uint64_t", ku64));
        uint sizeT = b.Add(BtfType.Typedef("size_t", ul));
        b.Add(BtfType.Typedef("bool", boolT));
        uint aligned = b.Add(BtfType.Typedef("__aligned_u64", tu64));

        // typedef struct { int counter; } atomic_t;
        uint atomicStruct = b.Add(BtfType.Struct("", 4, new BtfMember("counter", i32, 0)));
        uint atomic = b.Add(BtfType.Typedef("atomic_t", atomicStruct));
        // typedef struct refcount_struct { atomic_t refs; } refcount_t;
        uint refStruct = b.Add(BtfType.Struct("refcount_struct", 4, new BtfMember("refs", atomic, 0)));
        uint refcount = b.Add(BtfType.Typedef("refcount_t", refStruct));

        b.Add(BtfType.Enum("bpf_cmd", 4, false, BpfCmd()));

        b.Add(BtfType.Struct("btf_enum", 8,
            new BtfMember("name_off", tu32, 0),
            new BtfMember("val", ts32, 32)));

        uint listHead = b.Add(BtfType.Struct("list_head", 16));
        uint listPtr = b.Add(BtfType.Ptr(listHead));
        b.SetMembers(listHead, new[] { new BtfMember("next", listPtr, 0), new BtfMember("prev", listPtr, 64) });

        uint u8x8 = b.Add(BtfType.Array(tu8, 8));
        uint char16 = b.Add(BtfType.Array(ch, 16));
        b.Add(BtfType.Struct("bpf_prog_info", 232,
            M("type", tu32, 0), M("id", tu32, 4), M("tag", u8x8, 8),
            M("jited_prog_len", tu32, 16), M("xlated_prog_len", tu32, 20),
            M("jited_prog_insns", aligned, 24), M("xlated_prog_insns", aligned, 32),
            M("load_time", tu64, 40), M("created_by_uid", tu32, 48), M("nr_map_ids", tu32, 52),
            M("map_ids", aligned, 56), M("name", char16, 64), M("ifindex", tu32, 80),
            new BtfMember("gpl_compatible", tu32, 84 * 8, 1),
            M("netns_dev", tu64, 88), M("netns_ino", tu64, 96),
            M("nr_jited_ksyms", tu32, 104), M("nr_jited_func_lens", tu32, 108),
            M("jited_ksyms", aligned, 112), M("jited_func_lens", aligned, 120),
            M("btf_id", tu32, 128), M("func_info_rec_size", tu32, 132), M("func_info", aligned, 136),
            M("nr_func_info", tu32, 144), M("nr_line_info", tu32, 148), M("line_info", aligned, 152),
            M("jited_line_info", aligned, 160), M("nr_jited_line_info", tu32, 168),
            M("line_info_rec_size", tu32, 172), M("jited_line_info_rec_size", tu32, 176),
            M("nr_prog_tags", tu32, 180), M("prog_tags", aligned, 184), M("run_time_ns", tu64, 192),
            M("run_cnt", tu64, 200), M("recursion_misses", tu64, 208), M("verified_insns", tu32, 216),
            M("attach_btf_obj_id", tu32, 220), M("attach_btf_id", tu32, 224)));

        // __bpf_md_ptr(type, name): union { type name; __u64 :64; } aligned(8); the padding has no BTF member.
        uint flowKeys = b.Add(BtfType.Fwd("bpf_flow_keys"));
        uint bpfSock = b.Add(BtfType.Fwd("bpf_sock"));
        uint flowUnion = b.Add(BtfType.Union("", 8, new BtfMember("flow_keys", b.Add(BtfType.Ptr(flowKeys)), 0)));
        uint skUnion = b.Add(BtfType.Union("", 8, new BtfMember("sk", b.Add(BtfType.Ptr(bpfSock)), 0)));
        uint u32x5 = b.Add(BtfType.Array(tu32, 5));
        uint u32x4 = b.Add(BtfType.Array(tu32, 4));
        b.Add(BtfType.Struct("__sk_buff", 192,
            M("len", tu32, 0), M("pkt_type", tu32, 4), M("mark", tu32, 8), M("queue_mapping", tu32, 12),
            M("protocol", tu32, 16), M("vlan_present", tu32, 20), M("vlan_tci", tu32, 24),
            M("vlan_proto", tu32, 28), M("priority", tu32, 32), M("ingress_ifindex", tu32, 36),
            M("ifindex", tu32, 40), M("tc_index", tu32, 44), M("cb", u32x5, 48), M("hash", tu32, 68),
            M("tc_classid", tu32, 72), M("data", tu32, 76), M("data_end", tu32, 80), M("napi_id", tu32, 84),
            M("family", tu32, 88), M("remote_ip4", tu32, 92), M("local_ip4", tu32, 96),
            M("remote_ip6", u32x4, 100), M("local_ip6", u32x4, 116), M("remote_port", tu32, 132),
            M("local_port", tu32, 136), M("data_meta", tu32, 140), M("", flowUnion, 144),
            M("tstamp", tu64, 152), M("wire_len", tu32, 160), M("gso_segs", tu32, 164), M("", skUnion, 168),
            M("gso_size", tu32, 176), M("tstamp_type", tu8, 180), M("hwtstamp", tu64, 184)));

        b.Add(BtfType.Struct("bpf_insn", 8,
            new BtfMember("code", tu8, 0),
            new BtfMember("dst_reg", tu8, 8, 4),
            new BtfMember("src_reg", tu8, 12, 4),
            new BtfMember("off", ts16, 16),
            new BtfMember("imm", ts32, 32)));

        // struct task_struct: its first members (x86_64, CONFIG_THREAD_INFO_IN_TASK), then the ones tracing
        // programs read (pid, tgid, comm) packed right after them (not x86_64's offsets: the simulated
        // task memory, SimTaskMemory, is laid out by TaskStructLayout); size covers them.
        uint threadInfo = b.Add(BtfType.Struct("thread_info", 24,
            M("flags", ul, 0), M("syscall_work", ul, 8), M("status", tu32, 16), M("cpu", tu32, TaskStructLayout.Cpu)));
        uint voidPtr = b.Add(BtfType.Ptr(0));
        uint task = b.Add(BtfType.Struct("task_struct", TaskStructLayout.Size));

        // Per-CPU variables typed __ksym externs name (pahole puts only per-CPU ones in vmlinux BTF).
        // struct rq: its first members (raw_spinlock_t __lock, nr_running, ...); size covers them.
        uint rawSpin = b.Add(BtfType.Struct("raw_spinlock", 4, new BtfMember("raw_lock", u32, 0)));
        uint rawSpinT = b.Add(BtfType.Typedef("raw_spinlock_t", rawSpin));
        uint rq = b.Add(BtfType.Struct("rq", 24,
            M("__lock", rawSpinT, 0), M("nr_running", u32, 4), M("nr_switches", tu64, 8), M("cpu", i32, RqLayout.Cpu)));
        b.Add(BtfType.Var("runqueues", rq, perCpu: true));
        b.Add(BtfType.Var("bpf_prog_active", i32, perCpu: true));

        // pid_t comes last so the ids of the types above stay what worlds and docs already name.
        uint pidT = b.Add(BtfType.Typedef("pid_t", b.Add(BtfType.Typedef("__kernel_pid_t", i32))));
        b.SetMembers(task, new[]
        {
            M("thread_info", threadInfo, 0), M("__state", u32, 24), M("saved_state", u32, 28),
            M("stack", voidPtr, 32), M("usage", refcount, 40), M("flags", u32, 44), M("ptrace", u32, 48),
            M("pid", pidT, TaskStructLayout.Pid), M("tgid", pidT, TaskStructLayout.Tgid), M("comm", char16, TaskStructLayout.Comm),
        });

        // bpf_iter's context (include/linux/bpf.h, kernel/bpf/task_iter.c), appended so earlier ids stay:
        // struct seq_file's first members, bpf_iter_meta { seq, session_id, seq_num } and the task
        // target's ctx bpf_iter__task { meta, task } (IterCtxLayout has the offsets the simulator fills).
        uint charPtr = b.Add(BtfType.Ptr(ch));
        uint seqFile = b.Add(BtfType.Struct("seq_file", 32,
            M("buf", charPtr, 0), M("size", sizeT, 8), M("from", sizeT, 16), M("count", sizeT, 24)));
        uint meta = b.Add(BtfType.Struct("bpf_iter_meta", IterCtxLayout.MetaSize,
            M("seq", b.Add(BtfType.Ptr(seqFile)), IterCtxLayout.Seq), M("session_id", ku64, IterCtxLayout.SessionId), M("seq_num", ku64, IterCtxLayout.SeqNum)));
        b.Add(BtfType.Struct("bpf_iter__task", 16,
            M("meta", b.Add(BtfType.Ptr(meta)), IterCtxLayout.Meta), M("task", b.Add(BtfType.Ptr(task)), IterCtxLayout.Task)));
        return b;

        static BtfMember M(string name, uint type, uint byteOffset) => new(name, type, byteOffset * 8);
    }

    private static BtfEnumValue[] BpfCmd()
    {
        string[] names =
        {
            "BPF_MAP_CREATE", "BPF_MAP_LOOKUP_ELEM", "BPF_MAP_UPDATE_ELEM", "BPF_MAP_DELETE_ELEM",
            "BPF_MAP_GET_NEXT_KEY", "BPF_PROG_LOAD", "BPF_OBJ_PIN", "BPF_OBJ_GET", "BPF_PROG_ATTACH",
            "BPF_PROG_DETACH", "BPF_PROG_TEST_RUN", "BPF_PROG_GET_NEXT_ID", "BPF_MAP_GET_NEXT_ID",
            "BPF_PROG_GET_FD_BY_ID", "BPF_MAP_GET_FD_BY_ID", "BPF_OBJ_GET_INFO_BY_FD", "BPF_PROG_QUERY",
            "BPF_RAW_TRACEPOINT_OPEN", "BPF_BTF_LOAD", "BPF_BTF_GET_FD_BY_ID", "BPF_TASK_FD_QUERY",
            "BPF_MAP_LOOKUP_AND_DELETE_ELEM", "BPF_MAP_FREEZE", "BPF_BTF_GET_NEXT_ID", "BPF_MAP_LOOKUP_BATCH",
            "BPF_MAP_LOOKUP_AND_DELETE_BATCH", "BPF_MAP_UPDATE_BATCH", "BPF_MAP_DELETE_BATCH", "BPF_LINK_CREATE",
            "BPF_LINK_UPDATE", "BPF_LINK_GET_FD_BY_ID", "BPF_LINK_GET_NEXT_ID", "BPF_ENABLE_STATS",
            "BPF_ITER_CREATE", "BPF_LINK_DETACH", "BPF_PROG_BIND_MAP", "BPF_TOKEN_CREATE",
            "BPF_PROG_STREAM_READ_BY_FD", "__MAX_BPF_CMD",
        };
        var list = new List<BtfEnumValue>(names.Length + 1);
        for (int i = 0; i < names.Length; i++)
        {
            list.Add(new BtfEnumValue(names[i], i));
            // BPF_PROG_RUN is an alias declared right after BPF_PROG_TEST_RUN.
            if (names[i] == "BPF_PROG_TEST_RUN") list.Add(new BtfEnumValue("BPF_PROG_RUN", i));
        }
        return list.ToArray();
    }
}

/// <summary>
/// Byte offsets of the simulated vmlinux's task_struct members that the simulated task memory holds
/// (the one place both VmlinuxBtf and SimTaskMemory take them from).
/// </summary>
public static class TaskStructLayout
{
    /// <summary>thread_info.cpu (thread_info is task_struct's first member).</summary>
    public const uint Cpu = 20;
    public const uint Pid = 52, Tgid = 56, Comm = 60, CommLen = 16;
    public const uint Size = 80;
}

/// <summary>Offsets of the simulated bpf_iter_meta and bpf_iter__task (VmlinuxBtf declares them, the iterator fills them).</summary>
public static class IterCtxLayout
{
    public const uint Seq = 0, SessionId = 8, SeqNum = 16, MetaSize = 24;
    public const uint Meta = 0, Task = 8;
}

/// <summary>The offset of struct rq's cpu in the simulated vmlinux (SimPerCpu writes it in each CPU's runqueue).</summary>
public static class RqLayout
{
    public const uint Cpu = 16;
}
