/*
 * A task iterator in the shape of the kernel's bpf_iter_task selftest, written for the simulator:
 * on the first object a header line, then one line per task (its tgid and pid) through
 * BPF_SEQ_PRINTF, and when the iteration ends (task_seq_stop calls the program with task NULL)
 * a footer. `cat` on the pinned iterator prints the table.
 */
#include "common.h"
#include <bpf/bpf_tracing.h>

struct seq_file;
struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
} __attribute__((preserve_access_index));
struct task_struct {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));
struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
} __attribute__((preserve_access_index));

char _license[] SEC("license") = "GPL";

SEC("iter/task")
int list_tasks(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;

	if (!task) {
		BPF_SEQ_PRINTF(seq, "-- end, last seq_num %llu --\n", ctx->meta->seq_num);
		return 0;
	}
	if (ctx->meta->seq_num == 0)
		BPF_SEQ_PRINTF(seq, "  TGID    PID\n");
	BPF_SEQ_PRINTF(seq, "%6d %6d\n", task->tgid, task->pid);
	return 0;
}
