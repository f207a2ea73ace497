// cflags: -mcpu=v4
/* Instruction classes clang emits with -mcpu=v4: sign-extending loads and moves, sdiv/smod,
 * bswap, 32-bit ALU/JMP32, atomics. Inputs come from the context so nothing folds. */
#include "common.h"

struct in { __s64 a; __s64 b; __s8 c; __s16 d; __s32 e; __u8 pad; __u64 atom; };

__u64 res[16];

SEC("raw_tp/isa")
int isa(struct in *p)
{
	__s64 a = p->a, b = p->b;
	res[0] = (__u64)(a / b);                 /* sdiv */
	res[1] = (__u64)(a % b);                 /* smod */
	res[2] = (__u64)(__s64)p->c;             /* ldsx 8 */
	res[3] = (__u64)(__s64)p->d;             /* ldsx 16 */
	res[4] = (__u64)(__s64)p->e;             /* ldsx 32 */
	res[5] = (__u64)(__s64)(__s8)a;          /* movsx 8 */
	res[6] = (__u64)(__s64)(__s16)b;         /* movsx 16 */
	res[7] = __builtin_bswap64((__u64)a);    /* bswap 64 */
	res[8] = __builtin_bswap32((__u32)b);    /* bswap 32 */
	res[9] = __builtin_bswap16((__u16)a);    /* bswap 16 */
	res[10] = __sync_fetch_and_add(&p->atom, 5);           /* atomic fetch add */
	__sync_fetch_and_or(&p->atom, 0x100);                  /* atomic or */
	res[11] = __sync_val_compare_and_swap(&p->atom, 0x105 + 10, 9);  /* cmpxchg (fails when atom=0x10f? see test) */
	res[12] = __atomic_exchange_n(&p->atom, 77, __ATOMIC_SEQ_CST);   /* xchg */
	__u32 x = (__u32)a, y = (__u32)b;
	res[13] = (__u64)((__s32)x / (__s32)y);  /* 32-bit sdiv */
	res[14] = (__u64)(x >> (y & 31)) + (__u64)(a >> 3) + (((__s32)x < (__s32)y) ? 1 : 0);
	res[15] = (__u64)(x * y + (x | y) - (x & y));
	return (int)(res[0] + res[1]);
}

char LICENSE[] SEC("license") = "GPL";
