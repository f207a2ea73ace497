/*
 * A task iterator in the shape of the kernel's bpf_iter_task_btf selftest, written for the
 * simulator: each task is printed with bpf_seq_printf_btf as the kernel's BTF show prints a
 * struct task_struct (its type id from bpf_core_type_id_kernel), compact (BTF_F_COMPACT), after a
 * line with its seq_num; nothing is printed in the stop call.
 */
#include "common.h"
#include <linux/btf.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct seq_file;
struct bpf_iter_meta { struct seq_file *seq; __u64 session_id; __u64 seq_num; } __attribute__((preserve_access_index));
struct task_struct { int pid; } __attribute__((preserve_access_index));
struct bpf_iter__task { struct bpf_iter_meta *meta; struct task_struct *task; } __attribute__((preserve_access_index));

char _license[] SEC("license") = "GPL";

SEC("iter/task")
int dump_task_btf(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct btf_ptr ptr = {};
	long ret;

	if (!task)
		return 0;
	ptr.ptr = task;
	ptr.type_id = bpf_core_type_id_kernel(struct task_struct);
	BPF_SEQ_PRINTF(seq, "#%llu ", ctx->meta->seq_num);
	ret = bpf_seq_printf_btf(seq, &ptr, sizeof(ptr), BTF_F_COMPACT);
	BPF_SEQ_PRINTF(seq, "\n");
	return ret < 0;
}
