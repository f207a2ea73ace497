// cflags: -mcpu=v3
/*
 * CO-RE relocations against the simulated vmlinux BTF (Kernel/Btf/VmlinuxBtf.cs). The local
 * types below deliberately differ from the kernel's layouts, so every value the loader patches
 * is visibly the kernel's, not the compiler's. Results land in globals the tests read.
 */
#include "common.h"
#include <bpf/bpf_core_read.h>

/* Local views of kernel types, members at other offsets than the kernel's. */
struct thread_info {
	unsigned int status;	/* kernel: offset 16 */
	unsigned int cpu;	/* kernel: offset 20 */
} __attribute__((preserve_access_index));

struct task_struct {
	int pad;
	unsigned int ptrace;	/* kernel: offset 48 */
	struct thread_info thread_info;	/* kernel: offset 0 */
} __attribute__((preserve_access_index));

/* A flavor: matches the kernel's task_struct by its essential name. */
struct task_struct___flav {
	unsigned int flags;	/* kernel: offset 44 */
	int no_such_field;
} __attribute__((preserve_access_index));

struct bpf_insn___loc {
	__u8 code;
	__u8 dst_reg:4;
	__u8 src_reg:4;
	short off;
	int imm;
} __attribute__((preserve_access_index));

struct btf_enum {
	__u32 name_off;
	__s32 val;
} __attribute__((preserve_access_index));

struct list_head {
	struct list_head *next, *prev;
} __attribute__((preserve_access_index));

/* Same name, other shape: type_matches is 0 (next is a pointer in the kernel), type_exists 1. */
struct list_head___int {
	int next;
} __attribute__((preserve_access_index));

struct no_such_kernel_type {
	int x;
} __attribute__((preserve_access_index));

/* A flavored enum (uapi's enum bpf_cmd is already declared); enumerators match by essential name. */
enum bpf_cmd___loc {
	BPF_PROG_LOAD___loc = 1,	/* kernel: 5 */
	BPF_BTF_LOAD___loc = 2,		/* kernel: 18 */
	BPF_NOT_IN_KERNEL___loc = 3,
};

__u64 off_ptrace, off_cpu, sz_status, off_flags;
__u64 exists_ptrace, exists_missing, exists_flags;
__u64 signed_val, signed_name_off;
__u64 bf_off, bf_sz, bf_lshift, bf_rshift;
__u64 type_exists_list, type_exists_missing, type_size_task, type_matches_list;
__u64 type_id_kernel, type_id_local, type_matches_int, type_exists_int;
__u64 enum_exists, enum_missing, enum_prog_load, enum_btf_load;
__u64 guarded_read = 7;

SEC("raw_tp/sys_enter")
int core_values(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct task_struct___flav *f = (void *)t;

	off_ptrace = bpf_core_field_offset(struct task_struct, ptrace);
	off_cpu = bpf_core_field_offset(struct task_struct, thread_info.cpu);
	sz_status = bpf_core_field_size(struct thread_info, status);
	off_flags = bpf_core_field_offset(struct task_struct___flav, flags);
	exists_ptrace = bpf_core_field_exists(struct task_struct, ptrace);
	exists_missing = bpf_core_field_exists(struct task_struct___flav, no_such_field);
	exists_flags = bpf_core_field_exists(f->flags);
	signed_val = __builtin_preserve_field_info(((struct btf_enum *)0)->val, BPF_FIELD_SIGNED);
	signed_name_off = __builtin_preserve_field_info(((struct btf_enum *)0)->name_off, BPF_FIELD_SIGNED);
	bf_off = bpf_core_field_offset(struct bpf_insn___loc, src_reg);
	bf_sz = bpf_core_field_size(struct bpf_insn___loc, src_reg);
	bf_lshift = __builtin_preserve_field_info(((struct bpf_insn___loc *)0)->src_reg, BPF_FIELD_LSHIFT_U64);
	bf_rshift = __builtin_preserve_field_info(((struct bpf_insn___loc *)0)->src_reg, BPF_FIELD_RSHIFT_U64);
	type_exists_list = bpf_core_type_exists(struct list_head);
	type_exists_missing = bpf_core_type_exists(struct no_such_kernel_type);
	type_size_task = bpf_core_type_size(struct task_struct);
	type_matches_list = bpf_core_type_matches(struct list_head);
	type_matches_int = bpf_core_type_matches(struct list_head___int);
	type_exists_int = bpf_core_type_exists(struct list_head___int);
	type_id_kernel = bpf_core_type_id_kernel(struct list_head);
	type_id_local = bpf_core_type_id_local(struct list_head);
	enum_exists = bpf_core_enum_value_exists(enum bpf_cmd___loc, BPF_PROG_LOAD___loc);
	enum_missing = bpf_core_enum_value_exists(enum bpf_cmd___loc, BPF_NOT_IN_KERNEL___loc);
	enum_prog_load = bpf_core_enum_value(enum bpf_cmd___loc, BPF_PROG_LOAD___loc);
	enum_btf_load = bpf_core_enum_value(enum bpf_cmd___loc, BPF_BTF_LOAD___loc);
	/* guarded: the read of the missing field is poisoned but never reached */
	if (bpf_core_field_exists(f->no_such_field))
		guarded_read = BPF_CORE_READ(f, no_such_field);
	return 0;
}

/* BPF_CORE_READ through bpf_probe_read_kernel: the address arithmetic is relocated. */
__u64 read_ptrace = 99;

SEC("raw_tp/sys_exit")
int core_read(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	read_ptrace = BPF_CORE_READ(t, ptrace);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
