#!/bin/sh
# Builds every tests/bpf/*.bpf.c into *.bpf.o beside it. The .o files are committed, so a fresh
# clone needs no clang. Per-file flags come from a "// cflags: ..." first line (e.g. -mcpu=v4,
# which needs clang >= 18: clang-19 is preferred when installed).
set -eu
cd "$(dirname "$0")"
CLANG=${CLANG:-$(command -v clang-19 || command -v clang)}
ARCH_INC=/usr/include/$(uname -m)-linux-gnu
for src in *.bpf.c; do
	flags=$(sed -n '1s#^// cflags:##p' "$src")
	obj=${src%.c}.o
	echo "$CLANG -target bpf $flags -O2 -g -c $src -o $obj"
	# shellcheck disable=SC2086
	"$CLANG" -target bpf $flags -O2 -g -I"$ARCH_INC" -I. -c "$src" -o "$obj"
done
