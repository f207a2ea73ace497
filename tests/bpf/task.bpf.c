// cflags: -mcpu=v3
/* The current-task and attach-point helpers from a kprobe, as a tracer uses them: uid/gid,
 * the task pointer, the pid namespace view (dev/ino set from userspace), a comm filter with
 * bpf_strncmp, the probed function's address, and a signal to the caller. */
#include "common.h"

__u64 out_uid_gid;
__u64 out_task;
__u32 out_ns_pid;
__u32 out_ns_tgid;
__s64 out_ns_ret;
__s64 out_cmp;
__u64 out_func_ip;
__u32 out_numa;
__s64 out_signal;
__u64 cfg_dev;
__u64 cfg_ino;
__u32 cfg_sig;

SEC("kprobe/vfs_read")
int probe(void *ctx)
{
	struct bpf_pidns_info ns = {};
	char comm[16];

	out_uid_gid = bpf_get_current_uid_gid();
	out_task = bpf_get_current_task();
	out_ns_ret = bpf_get_ns_current_pid_tgid(cfg_dev, cfg_ino, &ns, sizeof(ns));
	out_ns_pid = ns.pid;
	out_ns_tgid = ns.tgid;
	bpf_get_current_comm(comm, sizeof(comm));
	out_cmp = bpf_strncmp(comm, sizeof(comm), "app");
	out_func_ip = bpf_get_func_ip(ctx);
	out_numa = bpf_get_numa_node_id();
	if (cfg_sig)
		out_signal = bpf_send_signal(cfg_sig);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
