// cflags: -mcpu=v3
/*
 * The shape of the kernel's trace_printk selftest, written for the simulator: an fentry program on
 * nanosleep that prints one numbered line per run with bpf_trace_printk and keeps what the helper
 * returned, so user space can count the lines in trace_pipe against the run counter.
 */
#include "common.h"

int printk_runs = 0;
int printk_ret = 0;
const char numbered[] = "Testing,testing %d\n";

SEC("fentry/__x64_sys_nanosleep")
int st_trace_printk(void *ctx)
{
	printk_runs += 1;
	printk_ret = bpf_trace_printk(numbered, sizeof(numbered), printk_runs);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
