// cflags: -mcpu=v3
/* Loop-heavy ALU program for the interpreter/compiler benchmark: no helpers, no memory
 * beyond the stack, a fixed trip count so the executed instruction count is exact. */
#include "common.h"

SEC("raw_tp/bench")
int loop_alu(void *ctx)
{
	__u64 x = 0x9e3779b97f4a7c15ULL, acc = 0;
	__u32 h = 2166136261u;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 10000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		h = (h ^ (__u32)x) * 16777619u;
		acc += (x & 0xff) + (h >> 3);
		if (acc & 1)
			acc -= i;
	}
	return (int)(acc ^ h);
}

char LICENSE[] SEC("license") = "GPL";
