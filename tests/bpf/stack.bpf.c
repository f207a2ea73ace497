// cflags: -mcpu=v3
/* Stacks as a profiler collects them: a kprobe counts kernel stack ids (bpf_get_stackid into a
 * STACK_TRACE map, the count in a hash map keyed by the id), and copies the user stack into a
 * global with bpf_get_stack. The flags come from user space so one object covers the errno
 * paths; a raw_tp program does the same from a raw tracepoint. */
#include "common.h"

#define DEPTH 8

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __s64);
	__type(value, __u64);
} counts SEC(".maps");

__u64 cfg_id_flags;
__u64 cfg_stack_flags;
__s64 out_id;
__s64 out_len;
__u64 out_ips[DEPTH];

static int collect(void *ctx)
{
	__s64 id = bpf_get_stackid(ctx, &stacks, cfg_id_flags);
	__u64 one = 1, *n;

	out_id = id;
	n = bpf_map_lookup_elem(&counts, &id);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&counts, &id, &one, BPF_NOEXIST);
	out_len = bpf_get_stack(ctx, out_ips, sizeof(out_ips), cfg_stack_flags);
	return 0;
}

SEC("kprobe/vfs_read")
int on_read(void *ctx)
{
	return collect(ctx);
}

SEC("raw_tp/sys_enter")
int on_enter(void *ctx)
{
	return collect(ctx);
}

char LICENSE[] SEC("license") = "GPL";
