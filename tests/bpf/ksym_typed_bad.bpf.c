// cflags: -mcpu=v3
/* A typed __ksym read directly: per-CPU memory is not dereferenceable (bpf_this_cpu_ptr is the way). */
#include "common.h"

struct rq {
	unsigned int nr_running;
};

extern const struct rq runqueues __ksym;

SEC("raw_tp/sys_enter")
int deref_percpu(void *ctx)
{
	return runqueues.nr_running;
}

char LICENSE[] SEC("license") = "GPL";
