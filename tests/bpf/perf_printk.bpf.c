// cflags: -mcpu=v3
/* bpf_perf_event_output into a perf_event_array with BPF_F_CURRENT_CPU, then bpf_printk. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(int));
	__uint(value_size, sizeof(int));
	__uint(max_entries, 4);
} events SEC(".maps");

SEC("raw_tp/sys_enter")
int emit(void *ctx)
{
	__u64 v = 0x1122334455667788ULL;
	long ret = bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &v, sizeof(v));
	bpf_printk("out ret=%ld v=%llx", ret, v);
	return (int)ret;
}

char LICENSE[] SEC("license") = "GPL";
