// cflags: -mcpu=v3
/* Typed __ksym externs: per-CPU kernel variables by BTF id (the simulated vmlinux's VARs), a weak one the kernel lacks. */
#include "common.h"

struct rq {
	unsigned int nr_running;
};

extern const struct rq runqueues __ksym;
extern const int bpf_prog_active __ksym;
extern const int no_such_percpu_var __ksym __attribute__((weak));

__u64 rq_addr = 1, active_addr = 1, weak_addr = 1;

SEC("raw_tp/sys_enter")
int typed_ksyms(void *ctx)
{
	rq_addr = (__u64)&runqueues;
	active_addr = (__u64)&bpf_prog_active;
	weak_addr = (__u64)&no_such_percpu_var;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
