// cflags: -mcpu=v3
/*
 * The shape of the kernel's snprintf_single selftest: bpf_snprintf with one u64 argument and a
 * 10-byte read-only format that user space fills before load (exec: init_globals), so the
 * verifier's format check decides whether the object loads.
 */
#include "common.h"

const char user_fmt[10] = {};
char formatted[64] = {};
long formatted_len = 0;

SEC("raw_tp/sys_enter")
int st_snprintf_single(const void *ctx)
{
	__u64 one_arg = 42;

	formatted_len = bpf_snprintf(formatted, sizeof(formatted), user_fmt, &one_arg, sizeof(one_arg));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
