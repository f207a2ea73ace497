// cflags: -mcpu=v3
/* bpf_tail_call through a BTF-defined prog array whose slots the object fills at load (libbpf's
 * .values initializer): entry jumps to the slot cfg_index names; slot 0 (chain) jumps to itself
 * until MAX_TAIL_CALL_CNT stops it, counting its runs in a global; slot 1 (emit) writes a trace
 * line and a perf sample; slot 2 is empty; 4 is past max_entries. from_sub tail-calls from a
 * subprogram: the target's return comes back to the subprogram's caller. */
#include "common.h"

__u64 hits_entry;
__u64 hits_chain;
__u64 hits_emit;
__u64 fell_through;
__u32 cfg_index;
__s64 out_ret;

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(int));
	__uint(value_size, sizeof(int));
} events SEC(".maps");

int chain(void *ctx);
int emit(void *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} jmp_table SEC(".maps") = {
	.values = {
		[0] = (void *)&chain,
		[1] = (void *)&emit,
	},
};

SEC("raw_tp/sys_enter")
int entry(void *ctx)
{
	hits_entry++;
	bpf_tail_call(ctx, &jmp_table, cfg_index);
	fell_through++;
	return 7;
}

SEC("raw_tp/sys_enter")
int chain(void *ctx)
{
	hits_chain++;
	bpf_tail_call(ctx, &jmp_table, 0);
	return 42;
}

SEC("raw_tp/sys_enter")
int emit(void *ctx)
{
	__u64 v = ++hits_emit;

	bpf_printk("emit %llu", v);
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &v, sizeof(v));
	return 3;
}

static __attribute__((noinline)) int sub_jump(void *ctx, __u32 idx)
{
	bpf_tail_call(ctx, &jmp_table, idx);
	return idx + 100;
}

SEC("raw_tp/sys_enter")
int from_sub(void *ctx)
{
	int r = sub_jump(ctx, cfg_index);

	out_ret = r;
	return r + 1000;
}

char LICENSE[] SEC("license") = "GPL";
