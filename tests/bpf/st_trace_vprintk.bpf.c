// cflags: -mcpu=v3
/*
 * The shape of the kernel's trace_vprintk selftest: bpf_printk with more than three arguments
 * becomes bpf_trace_vprintk (libbpf packs them into a u64 array), here eleven of them mixing %s and
 * %d; a lone tab through bpf_trace_printk; and a format that needs an argument given no data,
 * which the helper refuses at run time.
 */
#include "common.h"

int vprintk_runs = 0;
int vprintk_ret = 0;
int no_data_ret = 0;

SEC("fentry/__x64_sys_nanosleep")
int st_trace_vprintk(void *ctx)
{
	static const char a[] = "1", b[] = "3", c[] = "5", d[] = "7", e[] = "9";
	static const char needs_arg[] = "%pS\n";

	bpf_printk("\t");
	vprintk_runs += 1;
	vprintk_ret = bpf_printk("%s,%d,%s,%d,%s,%d,%s,%d,%s,%d %d\n", a, 2, b, 4, c, 6, d, 8, e, 10, vprintk_runs);
	no_data_ret = bpf_trace_vprintk(needs_arg, sizeof(needs_arg), NULL, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
