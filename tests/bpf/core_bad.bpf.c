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

/* Loads whose offsets and sizes follow the kernel: cpu moves 8 -> 20; status 0 -> 16 and 8 -> 4 bytes (unsigned, safe). */
struct thread_info___ldx {
	unsigned long long status;
	unsigned int cpu;
} __attribute__((preserve_access_index));

SEC("raw_tp/ldx")
int ldx(struct thread_info___ldx *ti)
{
	out = ti->cpu + ti->status;
	return 0;
}

/* A signed 8-byte local view of a 4-byte unsigned kernel field: the load cannot be resized, libbpf poisons it. */
struct thread_info___sgn {
	long long cpu;
} __attribute__((preserve_access_index));

SEC("raw_tp/ldx_signed")
int ldx_signed(struct thread_info___sgn *ti)
{
	out = ti->cpu;
	return 0;
}

/* The value of an enumerator the kernel lacks: the ld_imm64 is poisoned, both halves. */
enum bpf_cmd___bad { BPF_NO_SUCH_CMD___bad = 7 };

SEC("raw_tp/enum_missing")
int enum_missing(void *ctx)
{
	out = bpf_core_enum_value(enum bpf_cmd___bad, BPF_NO_SUCH_CMD___bad);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
