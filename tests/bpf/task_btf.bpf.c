// cflags: -mcpu=v3
/*
 * The current task's pid, tgid and comm read three ways from a raw tracepoint, as tracers do:
 * bpf_probe_read_kernel of &task->field (the address relocated by CO-RE), BPF_CORE_READ /
 * BPF_CORE_READ_STR_INTO, and direct loads through bpf_get_current_task_btf's PTR_TO_BTF_ID.
 * The local task_struct lists its members in another order than the simulated vmlinux, so every
 * offset the program uses is the kernel's (Kernel/Btf/VmlinuxBtf.cs). Results land in globals.
 */
#include "common.h"
#include <bpf/bpf_core_read.h>

struct task_struct {
	char comm[16];
	int tgid;
	int pid;
} __attribute__((preserve_access_index));

int read_pid, read_tgid;
char read_comm[16];
int core_pid, core_tgid;
char core_comm[16];
int direct_pid, direct_tgid;
char direct_comm[16];

SEC("raw_tp/sys_enter")
int task_three_ways(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct task_struct *b = bpf_get_current_task_btf();

	bpf_probe_read_kernel(&read_pid, sizeof(read_pid), &t->pid);
	bpf_probe_read_kernel(&read_tgid, sizeof(read_tgid), &t->tgid);
	bpf_probe_read_kernel(read_comm, sizeof(read_comm), &t->comm);

	core_pid = BPF_CORE_READ(t, pid);
	core_tgid = BPF_CORE_READ(t, tgid);
	BPF_CORE_READ_STR_INTO(&core_comm, t, comm);

	direct_pid = b->pid;
	direct_tgid = b->tgid;
#pragma unroll
	for (int i = 0; i < 16; i++)
		direct_comm[i] = b->comm[i];
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
