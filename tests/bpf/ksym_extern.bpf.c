// cflags: -mcpu=v3
/* Typeless __ksym externs: a strong one the world must have in its kallsyms, a weak one it may lack. */
#include "common.h"

extern const void sim_only_symbol __ksym;
extern const void absent_weak __ksym __attribute__((weak));

__u64 strong_addr = 0;
__u64 weak_addr = 0;

SEC("raw_tp/sys_enter")
int read_ksyms(void *ctx)
{
	strong_addr = (__u64)&sim_only_symbol;
	weak_addr = (__u64)&absent_weak;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
