// cflags: -mcpu=v3
/*
 * The shape of the kernel's snprintf selftest, written for the simulator: one program formats
 * integers, IP addresses, kernel symbols (a typeless __ksym), pointers, strings and chars,
 * an overflowing buffer, a huge zero padding, no arguments and no buffer with BPF_SNPRINTF
 * (libbpf packs the arguments into a u64 array for bpf_snprintf), keeping every output and length
 * in .bss for user space to compare. Only the current task's pid runs it.
 */
#include "common.h"

__u32 only_pid = 0;

char ints_out[64] = {};
long ints_len = 0;
char ips_out[64] = {};
long ips_len = 0;
char syms_out[64] = {};
long syms_len = 0;
char ptrs_out[64] = {};
long ptrs_len = 0;
char strs_out[64] = {};
long strs_len = 0;
char small_out[6] = {};
long small_len = 0;
char pad_out[10] = {};
long pad_len = 0;
char plain_out[64] = {};
long plain_len = 0;
long nobuf_len = 0;

extern const void schedule __ksym;

SEC("raw_tp/sys_enter")
int st_snprintf(const void *ctx)
{
	const __u8 v4[] = { 127, 0, 0, 1 };
	const __u8 v6[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	static const char first[] = "str1";
	static const char second[] = "longstr";

	if ((int)bpf_get_current_pid_tgid() != only_pid)
		return 0;
	ints_len = BPF_SNPRINTF(ints_out, sizeof(ints_out), "%d %u %x %li %llu %lX",
				-8, 9, 150, -424242, 1337, 0xDABBAD00);
	ips_len = BPF_SNPRINTF(ips_out, sizeof(ips_out), "%pi4 %pI6", &v4, &v6);
	syms_len = BPF_SNPRINTF(syms_out, sizeof(syms_out), "%ps %pS %pB", &schedule, &schedule, &schedule);
	ptrs_len = BPF_SNPRINTF(ptrs_out, sizeof(ptrs_out), "%pK %px %p", 0, 0xFFFF00000ADD4E55, 0xFFFF00000ADD4E55);
	strs_len = BPF_SNPRINTF(strs_out, sizeof(strs_out), "%s % 9c %+2c %-3c %04c %0c %+05s",
				first, 'a', 'b', 'c', 'd', 'e', second);
	small_len = BPF_SNPRINTF(small_out, sizeof(small_out), "%%overflow");
	pad_len = BPF_SNPRINTF(pad_out, sizeof(pad_out), "%5d %0900000X", 4, 4);
	plain_len = BPF_SNPRINTF(plain_out, sizeof(plain_out), "simple case");
	nobuf_len = BPF_SNPRINTF(NULL, 0, "only interested in length %d", 60);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
