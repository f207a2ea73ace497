/*
 * A task iterator whose program returns 1 (retry) for pid 812: bpf_iter_run_prog turns that into
 * -EAGAIN for show(), so the read() that meets it ends with the tasks before it, and the next
 * read() starting with it fails with EAGAIN.
 */
#include "common.h"
#include <bpf/bpf_tracing.h>

struct seq_file;
struct bpf_iter_meta { struct seq_file *seq; __u64 session_id; __u64 seq_num; } __attribute__((preserve_access_index));
struct task_struct { int pid; } __attribute__((preserve_access_index));
struct bpf_iter__task { struct bpf_iter_meta *meta; struct task_struct *task; } __attribute__((preserve_access_index));

char _license[] SEC("license") = "GPL";

SEC("iter/task")
int pids_retry(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;

	if (!task)
		return 0;
	BPF_SEQ_PRINTF(ctx->meta->seq, "%d\n", task->pid);
	return task->pid == 812;
}
