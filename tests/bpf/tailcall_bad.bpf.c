// cflags: -mcpu=v3
/* A prog array BPF_MAP_CREATE refuses (key_size 8: an array's key is 4 bytes): the object does not
 * load (tests/Bpf.Tests/Loader). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, 8);
	__uint(value_size, 4);
} bad_table SEC(".maps");

SEC("raw_tp/sys_enter")
int entry(void *ctx)
{
	bpf_tail_call(ctx, &bad_table, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
