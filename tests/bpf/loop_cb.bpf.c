// cflags: -mcpu=v3
/* bpf_loop with callbacks: a sum into a ctx struct on the caller's stack, a callback that stops
 * early, one that calls bpf_printk, and one whose count and flags come from globals (to reach
 * bpf_loop's -E2BIG and -EINVAL). Results go to globals so exec's get_global can read them. */
#include "common.h"

struct acc {
	__u64 sum;
	__u32 calls;
	__u32 stop_at;
};

__u64 out_sum;
__u64 out_calls;
__s64 out_ret;
__u32 cfg_nr;
__u64 cfg_flags;

static int add_index(__u32 i, void *data)
{
	struct acc *a = data;

	a->sum += i;
	a->calls++;
	return 0;
}

static int add_until(__u32 i, void *data)
{
	struct acc *a = data;

	if (i >= a->stop_at)
		return 1;
	a->sum += i;
	a->calls++;
	return 0;
}

static int say(__u32 i, void *data)
{
	bpf_printk("cb %u", i);
	return 0;
}

static void publish(struct acc *a, long ret)
{
	out_sum = a->sum;
	out_calls = a->calls;
	out_ret = ret;
}

SEC("raw_tp/loop_sum")
int loop_sum(void *ctx)
{
	struct acc a = {};
	long ret = bpf_loop(10, add_index, &a, 0);

	publish(&a, ret);
	return 0;
}

SEC("raw_tp/loop_stop")
int loop_stop(void *ctx)
{
	struct acc a = { .stop_at = 3 };
	long ret = bpf_loop(100, add_until, &a, 0);

	publish(&a, ret);
	return 0;
}

SEC("raw_tp/loop_print")
int loop_print(void *ctx)
{
	long ret = bpf_loop(3, say, NULL, 0);

	out_ret = ret;
	return 0;
}

SEC("raw_tp/loop_cfg")
int loop_cfg(void *ctx)
{
	struct acc a = { .stop_at = 2 };
	long ret = bpf_loop(cfg_nr, add_until, &a, cfg_flags);

	publish(&a, ret);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
