// cflags: -mcpu=v3
/*
 * The shape of the kernel's pe_preserve_elems selftest: two one-slot perf event arrays, the second
 * created with BPF_F_PRESERVE_ELEMS, each read by its own program with bpf_perf_event_read_value.
 * User space fills slot 0, closes its map fd while the programs still hold the maps, and reads
 * again: the plain array has lost the event (-ENOENT), the preserving one still reads it.
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, int);
} plain_arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, int);
	__uint(map_flags, BPF_F_PRESERVE_ELEMS);
} kept_arr SEC(".maps");

SEC("raw_tp/sched_switch")
int read_plain(void *ctx)
{
	struct bpf_perf_event_value v;

	return bpf_perf_event_read_value(&plain_arr, 0, &v, sizeof(v));
}

SEC("raw_tp/task_rename")
int read_kept(void *ctx)
{
	struct bpf_perf_event_value v;

	return bpf_perf_event_read_value(&kept_arr, 0, &v, sizeof(v));
}

char LICENSE[] SEC("license") = "GPL";
