/*
 * A task iterator writing binary records with bpf_seq_write: per task its pid and tgid as two
 * little-endian u32, then at the end (task NULL) the record count as a u32 (seq_num + 1 with at
 * least one task; bpf_seq_read leaves seq_num at the last object's).
 */
#include "common.h"

struct seq_file;
struct bpf_iter_meta { struct seq_file *seq; __u64 session_id; __u64 seq_num; } __attribute__((preserve_access_index));
struct task_struct { int pid; int tgid; } __attribute__((preserve_access_index));
struct bpf_iter__task { struct bpf_iter_meta *meta; struct task_struct *task; } __attribute__((preserve_access_index));

char _license[] SEC("license") = "GPL";

SEC("iter/task")
int task_records(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	__u32 rec[2];

	if (!task) {
		rec[0] = ctx->meta->seq_num + 1;
		bpf_seq_write(seq, rec, sizeof(rec[0]));
		return 0;
	}
	rec[0] = task->pid;
	rec[1] = task->tgid;
	bpf_seq_write(seq, rec, sizeof(rec));
	return 0;
}
