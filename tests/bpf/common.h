/* Shared includes for the test programs: uapi types + libbpf's helper declarations. */
#pragma once
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
