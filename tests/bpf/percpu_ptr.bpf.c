// cflags: -mcpu=v3
/* bpf_this_cpu_ptr / bpf_per_cpu_ptr over the simulated vmlinux's per-CPU VARs: a struct (runqueues,
 * PTR_TO_BTF_ID: its cpu read directly) and an int (bpf_prog_active, read-only memory). */
#include "common.h"

struct rq {
	int cpu;
} __attribute__((preserve_access_index));

extern const struct rq runqueues __ksym;
extern const int bpf_prog_active __ksym;

__u64 this_rq, rq1;
int this_rq_cpu = -1, rq1_cpu = -1, active = -1, past_nr_cpus = -1;

SEC("raw_tp/sys_enter")
int percpu_ptrs(void *ctx)
{
	struct rq *rq = bpf_this_cpu_ptr(&runqueues);
	struct rq *r1 = bpf_per_cpu_ptr(&runqueues, 1);
	const int *a = bpf_this_cpu_ptr(&bpf_prog_active);

	this_rq = (__u64)rq;
	this_rq_cpu = rq->cpu;
	rq1 = (__u64)r1;
	if (r1)
		rq1_cpu = r1->cpu;
	past_nr_cpus = bpf_per_cpu_ptr(&runqueues, 4) == 0;
	active = *a;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
