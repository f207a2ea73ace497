// cflags: -mcpu=v3
/*
 * The shape of the kernel's snprintf_btf selftest (its netif_receive_skb program), written for the
 * simulator: a tp_btf program prints the received sk_buff with bpf_snprintf_btf under each flag
 * set, checks that an unreadable pointer is an error, then prints values of the kernel types the
 * simulated vmlinux BTF has, each with its kernel type id from bpf_core_type_id_kernel (a CO-RE
 * relocation), and compares every string with the one the kernel prints. User space checks ret > 0
 * and that every subtest ran; failed_subtest names the first string that differed (its text in got).
 */
#include "common.h"
#include <linux/btf.h>
#include <bpf/bpf_core_read.h>

#define EINVAL 22
#define EBADMSG 74
#define ERANGE 34
#define STRSIZE 2048

typedef struct { int counter; } atomic_t;
typedef __u64 u64;
typedef __u64 uint64_t;
struct list_head { struct list_head *next, *prev; };
/* the world's kernel declares the full sk_buff (btf_types); only its type id is needed here */
struct sk_buff { unsigned int len; };

long ret = 0;
int num_subtests = 0;
int ran_subtests = 0;
int failed_subtest = 0;
long skb_ret[6] = {};
long badptr_ret = 0;
char got[256] = {};
/* the run step cannot put a kernel address in the ctx: the world sets the skb here before the run */
struct sk_buff *skb_in = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[STRSIZE]);
} strdata SEC(".maps");

/* One subtest: a static value of the type, shown compactly with the extra flags, compared whole. */
#define CHECK(_type, _flags, _want, ...)					\
	do {									\
		static const char _expect[] = _want;				\
		static _type _val = __VA_ARGS__;				\
		static struct btf_ptr _p = {};					\
		long _n;							\
		++num_subtests;							\
		if (ret < 0)							\
			break;							\
		++ran_subtests;							\
		_p.ptr = &_val;							\
		_p.type_id = bpf_core_type_id_kernel(_type);			\
		if (_p.type_id <= 0) {						\
			ret = -EINVAL;						\
			failed_subtest = num_subtests;				\
			break;							\
		}								\
		_n = bpf_snprintf_btf(str, STRSIZE, &_p, sizeof(_p), (_flags) | BTF_F_COMPACT); \
		if (_n < 0 || bpf_strncmp(str, STRSIZE, _expect) != 0) {	\
			bpf_probe_read_kernel_str(got, sizeof(got), str);	\
			ret = _n < 0 ? _n : -EBADMSG;				\
			failed_subtest = num_subtests;				\
			break;							\
		}								\
		ret = _n;							\
	} while (0)

SEC("tp_btf/netif_receive_skb")
int st_snprintf_btf(__u64 *ctx)
{
	static __u64 flags[6] = { 0, BTF_F_COMPACT, BTF_F_ZERO, BTF_F_PTR_RAW, BTF_F_NONAME,
				  BTF_F_COMPACT | BTF_F_ZERO | BTF_F_PTR_RAW | BTF_F_NONAME };
	static struct btf_ptr p = {};
	__u32 key = 0;
	char *str;
	int i;

	str = bpf_map_lookup_elem(&strdata, &key);
	if (!str)
		return 0;

	/* the skb under every flag set */
	p.type_id = bpf_core_type_id_kernel(struct sk_buff);
	p.ptr = skb_in;
	for (i = 0; i < 6; i++) {
		++num_subtests;
		ret = bpf_snprintf_btf(str, STRSIZE, &p, sizeof(p), flags[i]);
		skb_ret[i] = ret;
		if (ret < 0)
			break;
		++ran_subtests;
	}

	/* a NULL object is an error, not a string */
	p.ptr = 0;
	badptr_ret = bpf_snprintf_btf(str, STRSIZE, &p, sizeof(p), 0);
	if (badptr_ret >= 0)
		ret = -ERANGE;

	/* ints: a value, zero shown at the top level, names dropped */
	CHECK(int, 0, "(int)4321", 4321);
	CHECK(int, BTF_F_NONAME, "-765", -765);
	CHECK(int, 0, "(int)0", 0);
	CHECK(int, BTF_F_NONAME | BTF_F_ZERO, "0", 0);
	/* char */
	CHECK(char, 0, "(char)65", 65);
	CHECK(char, BTF_F_NONAME, "0", 0);
	/* typedefs of typedefs */
	CHECK(uint64_t, 0, "(uint64_t)77", 77);
	CHECK(u64, BTF_F_NONAME, "12", 12);
	CHECK(u64, BTF_F_ZERO, "(u64)0", 0);
	/* a typedef'd anonymous struct */
	CHECK(atomic_t, 0, "(atomic_t){.counter = (int)3,}", {.counter = 3});
	CHECK(atomic_t, BTF_F_NONAME, "{}", {.counter = 0});
	CHECK(atomic_t, BTF_F_ZERO, "(atomic_t){.counter = (int)0,}", {.counter = 0});
	/* enums: a named value, a value the enum does not name */
	CHECK(enum bpf_cmd, 0, "(enum bpf_cmd)BPF_PROG_LOAD", BPF_PROG_LOAD);
	CHECK(enum bpf_cmd, BTF_F_NONAME, "BPF_MAP_CREATE", 0);
	CHECK(enum bpf_cmd, 0, "(enum bpf_cmd)3000", 3000);
	/* a struct: zero members left out unless BTF_F_ZERO */
	CHECK(struct btf_enum, 0, "(struct btf_enum){.name_off = (__u32)9,.val = (__s32)-2,}", {.name_off = 9, .val = -2});
	CHECK(struct btf_enum, BTF_F_NONAME, "{-2,}", {.name_off = 0, .val = -2});
	CHECK(struct btf_enum, BTF_F_ZERO, "(struct btf_enum){.name_off = (__u32)0,.val = (__s32)0,}", {});
	CHECK(struct btf_enum, 0, "(struct btf_enum){}", {});
	/* pointers, raw */
	CHECK(struct list_head, BTF_F_PTR_RAW, "(struct list_head){.prev = (struct list_head *)0x0000000000000002,}",
	      {.prev = (struct list_head *)2});
	/* char arrays */
	CHECK(struct bpf_prog_info, 0, "(struct bpf_prog_info){.name = (char[])['b','a','r',],}", {.name = "bar"});
	CHECK(struct bpf_prog_info, 0, "(struct bpf_prog_info){}", {.name = {'\0', 'b'}});
	CHECK(struct bpf_prog_info, BTF_F_NONAME, "{[7,8,],}", {.name = {7, 8}});
	/* other arrays: the non-zero elements */
	CHECK(struct __sk_buff, 0, "(struct __sk_buff){.cb = (__u32[])[5,4,3,2,1,],}", {.cb = {5, 4, 3, 2, 1}});
	CHECK(struct __sk_buff, 0, "(struct __sk_buff){.cb = (__u32[])[9,],}", {.cb = {0, 0, 0, 9, 0}});
	/* bitfields */
	CHECK(struct bpf_insn, 0, "(struct bpf_insn){.code = (__u8)7,.dst_reg = (__u8)0x1,.src_reg = (__u8)0xa,.off = (__s16)-3,.imm = (__s32)6,}",
	      {.code = 7, .dst_reg = 1, .src_reg = 10, .off = -3, .imm = 6});
	CHECK(struct bpf_insn, BTF_F_NONAME, "{7,0x1,0xa,-3,6,}", {.code = 7, .dst_reg = 1, .src_reg = 10, .off = -3, .imm = 6});
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
