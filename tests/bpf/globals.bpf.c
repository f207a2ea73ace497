// cflags: -mcpu=v3
/* Globals in .rodata/.data/.bss, bpf-to-bpf calls, array/hash/percpu_array maps. */
#include "common.h"

const volatile __u32 scale = 3;          /* .rodata */
__u64 counter = 100;                      /* .data */
__u64 last_value;                         /* .bss */
char tag[8] = "abc";                      /* .data */
__u64 ptrs[2];                            /* .bss, for set_global offsets */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} hmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} pcpu SEC(".maps");

static __attribute__((noinline)) __u64 mul_add(__u64 a, __u64 b)
{
	return a * scale + b;
}

static __attribute__((noinline)) __u64 twice(__u64 a)
{
	return mul_add(a, a) + 1;
}

SEC("raw_tp/globals")
int use_globals(void *ctx)
{
	__u32 k = 1;
	__u64 *v, init = 7;

	counter += 1;
	last_value = twice(counter);       /* (101*3+101)+1 = 405 */

	v = bpf_map_lookup_elem(&arr, &k);
	if (v)
		*v += last_value;
	bpf_map_update_elem(&hmap, &k, &init, BPF_ANY);
	v = bpf_map_lookup_elem(&hmap, &k);
	if (v)
		*v += 1;
	k = 0;
	v = bpf_map_lookup_elem(&pcpu, &k);
	if (v)
		*v += 2;
	return (int)(last_value + tag[0]);
}

/* Two programs in one section, picked by function name. */
SEC("raw_tp/pair")
int pair_a(void *ctx) { return 1; }

SEC("raw_tp/pair")
int pair_b(void *ctx) { return 2; }

/* A program in .text is honoured too (a non-static function without SEC). */
int text_prog(void *ctx) { return (int)scale; }

char LICENSE[] SEC("license") = "GPL";
