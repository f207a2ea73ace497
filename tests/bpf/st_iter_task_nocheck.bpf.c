/*
 * An iter/task program that reads ctx->task without checking it for NULL: the verifier refuses
 * it, since the task iterator's ctx_arg_info types task as PTR_TO_BTF_ID_OR_NULL (the program
 * also runs in task_seq_stop with task NULL).
 */
#include "common.h"
#include <bpf/bpf_tracing.h>

struct seq_file;
struct bpf_iter_meta { struct seq_file *seq; __u64 session_id; __u64 seq_num; } __attribute__((preserve_access_index));
struct task_struct { int pid; } __attribute__((preserve_access_index));
struct bpf_iter__task { struct bpf_iter_meta *meta; struct task_struct *task; } __attribute__((preserve_access_index));

char _license[] SEC("license") = "GPL";

SEC("iter/task")
int pids_unchecked(struct bpf_iter__task *ctx)
{
	BPF_SEQ_PRINTF(ctx->meta->seq, "%d\n", ctx->task->pid);
	return 0;
}
