// cflags: -mcpu=v3
/*
 * The shape of the kernel's perf_buffer selftest: a probe that writes the number of the CPU it
 * runs on into that CPU's perf buffer (BPF_F_CURRENT_CPU), so a consumer can check that every
 * CPU's sample arrives in its own ring carrying its own CPU id.
 */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__type(key, int);
	__type(value, int);
} per_cpu_out SEC(".maps");

SEC("kprobe/__x64_sys_nanosleep")
int st_perf_buffer(void *ctx)
{
	int cpu = bpf_get_smp_processor_id();

	bpf_perf_event_output(ctx, &per_cpu_out, BPF_F_CURRENT_CPU, &cpu, sizeof(cpu));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
