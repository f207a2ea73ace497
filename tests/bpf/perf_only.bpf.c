// cflags: -mcpu=v3
/* One bpf_perf_event_output per run and nothing else: the cost of a helper call through the VM. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(int));
	__uint(value_size, sizeof(int));
	__uint(max_entries, 4);
} events SEC(".maps");

SEC("raw_tp/sys_enter")
int emit_only(void *ctx)
{
	__u64 v = 0x1122334455667788ULL;
	return bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &v, sizeof(v));
}

char LICENSE[] SEC("license") = "GPL";
