// cflags: -mcpu=v3
/* Calls a kfunc (an extern __ksym function): the simulator refuses the object and must name
 * the section, the instruction and the source line. */
#include "common.h"

extern void bpf_rcu_read_lock(void) __ksym;

SEC("raw_tp/kfunc")
int uses_kfunc(void *ctx)
{
	int x = 1;
	bpf_rcu_read_lock();
	return x;
}

char LICENSE[] SEC("license") = "GPL";
