// cflags: -mcpu=v3
/* The counter and formatting helpers: bpf_perf_event_read (22), bpf_perf_event_read_value (55),
 * bpf_snprintf (165) and bpf_trace_vprintk (177, what bpf_printk becomes past 3 arguments). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(int));
	__uint(value_size, sizeof(int));
	__uint(max_entries, 4);
} counters SEC(".maps");

__u64 last_read;
struct bpf_perf_event_value last_value;
char text[32];

SEC("raw_tp/read")
int read_counters(void *ctx)
{
	last_read = bpf_perf_event_read(&counters, BPF_F_CURRENT_CPU);
	return bpf_perf_event_read_value(&counters, BPF_F_CURRENT_CPU, &last_value, sizeof(last_value));
}

SEC("raw_tp/format")
int format(void *ctx)
{
	static const char fmt[] = "cpu=%d pid=%d";
	__u64 args[2] = { bpf_get_smp_processor_id(), bpf_get_current_pid_tgid() >> 32 };
	long n = bpf_snprintf(text, sizeof(text), fmt, args, sizeof(args));
	bpf_printk("%ld %s %d %d", n, text, 3, 4);
	return n;
}

char LICENSE[] SEC("license") = "GPL";
