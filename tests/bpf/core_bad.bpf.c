// cflags: -mcpu=v3
/* CO-RE relocations the simulated kernel cannot satisfy: libbpf poisons them or fails the load. */
#include "common.h"
#include <bpf/bpf_core_read.h>

struct task_struct___bad {
	int pid;
	int fake_field;
} __attribute__((preserve_access_index));

struct sim_amb {
	int x;
} __attribute__((preserve_access_index));

__u64 out;

/* An unguarded read of a field the kernel's task_struct lacks: the verifier reaches the poison. */
SEC("raw_tp/sys_enter")
int bad_relo(void *ctx)
{
	struct task_struct___bad *t = (void *)bpf_get_current_task();
	out = bpf_core_field_size(t->fake_field);
	return 0;
}

/* No candidate in the plain vmlinux (poisoned, not reached unless run); two disagreeing ones in a world that adds them. */
SEC("raw_tp/sys_exit")
int amb(void *ctx)
{
	out = bpf_core_field_offset(struct sim_amb, x);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
