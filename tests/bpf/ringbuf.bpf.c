// cflags: -mcpu=v3
/* A ring buffer shared by every CPU: bpf_ringbuf_output of a fixed record, a reserve/submit path
 * that discards every other record, and bpf_ringbuf_query (tests: Client.Tests ExecRingbufTests). */
#include "common.h"

struct event {
	__u32 pid;
	__u32 cpu;
	__u64 seq;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");

__u64 seq = 0;

SEC("raw_tp/sys_enter")
int output(void *ctx)
{
	struct event e = {};

	e.pid = bpf_get_current_pid_tgid() >> 32;
	e.cpu = bpf_get_smp_processor_id();
	e.seq = ++seq;
	return bpf_ringbuf_output(&rb, &e, sizeof(e), 0);
}

SEC("raw_tp/sys_exit")
int reserve(void *ctx)
{
	struct event *e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);

	if (!e)
		return 1;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->cpu = bpf_get_smp_processor_id();
	e->seq = ++seq;
	if (e->seq & 1)
		bpf_ringbuf_discard(e, 0);
	else
		bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	return 0;
}

SEC("raw_tp/sched_switch")
long query(void *ctx)
{
	return bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA);
}

char LICENSE[] SEC("license") = "GPL";
