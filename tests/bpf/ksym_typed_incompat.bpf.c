// cflags: -mcpu=v3 -DINCOMPATIBLE
/* A typed __ksym whose type is not the kernel variable's (ksym_typed_missing.bpf.c with INCOMPATIBLE). */
#include "common.h"

struct rq {
	unsigned int nr_running;
};

#ifdef INCOMPATIBLE
extern const struct rq bpf_prog_active __ksym;
#define SYM bpf_prog_active
#else
extern const int not_in_kernel_btf __ksym;
#define SYM not_in_kernel_btf
#endif

__u64 addr;

SEC("raw_tp/sys_enter")
int missing(void *ctx)
{
	addr = (__u64)&SYM;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
