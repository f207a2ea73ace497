#!/usr/bin/env python3
"""Writes the bad-input corpus: inputs/ (documents, objects) and cases.tsv, one case a line:
ID <TAB> EXPECTED_EXIT <TAB> ARGS (space separated; {out} is a fresh path that must stay absent)
<TAB> TEXT the first line of stderr must contain. Run from the repository root or anywhere:
  python3 tests/bad-inputs/generate.py
Client.Tests' BadInputTests runs every case through the real bpfsim; run.sh prints the table."""
import os, pathlib, re

here = pathlib.Path(__file__).resolve().parent
root = here.parent.parent
inp = here / "inputs"
inp.mkdir(exist_ok=True)
for f in inp.iterdir():
    f.unlink()
cases = []

def case(cid, exit_code, args, expect):
    cases.append((cid, str(exit_code), args, expect))

def write(name, data):
    p = inp / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return f"tests/bad-inputs/inputs/{name}"

quick = (root / "scenarios/quick.yaml").read_text()
def scen(cid, text, expect, exit_code=2, cmd="run"):
    path = write(cid + ".yaml", text)
    extra = " --out {out}" if cmd in ("run", "sweep") else ""
    vary = " --vary window=100ms,200ms" if cmd == "sweep" else ""
    case(cid, exit_code, f"{cmd} {path}{vary}{extra}", expect)

def sub(old, new, text=quick):
    assert old in text, old
    return text.replace(old, new, 1)

# ---- scenario YAML: syntax (the scanner and parser of YamlDotNet) ----
scen("yaml-unclosed-flow-seq", "seed: [1,2\nduration: 1s\n", "not valid YAML")
scen("yaml-unclosed-flow-seq-eof", "seed: [1,2", "not valid YAML")
scen("yaml-unclosed-flow-map", "fleet: { group: a\n", "not valid YAML")
scen("yaml-unclosed-quote", 'name: "abc\nduration: 1s\n', "not valid YAML")
scen("yaml-unclosed-single-quote", "name: 'abc\n", "not valid YAML")
scen("yaml-bad-indent", "duration: 1s\n fleet:\n- a\n", "not valid YAML")
scen("yaml-tab-indent", "fleet:\n\t- group: a\n", "not valid YAML")
scen("yaml-duplicate-key", sub("seed: 42", "seed: 42\nseed: 43"), "duplicate key 'seed'")
scen("yaml-two-documents", quick + "\n---\nname: x\n", "one YAML document")
scen("yaml-alias-no-anchor", sub("seed: 42", "seed: *nope"), "names no anchor")
scen("yaml-deep-flow-seq", "a: " + "[" * 100000 + "\n", "nested more than 64 levels")
scen("yaml-deep-block-map", "".join(" " * i + f"k{i}:\n" for i in range(200)) + " " * 200 + "v: 1\n", "nested more than 64 levels")
scen("yaml-deep-flow-map", "a: " + "{x: " * 300 + "1" + "}" * 300 + "\n", "nested more than 64 levels")
laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
for i, n in enumerate("bcdefgh"):
    prev = "abcdefgh"[i]
    laughs += f"{n}: &{n} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
scen("yaml-billion-laughs", laughs, "aliases expand the document past")
scen("yaml-key-is-list", "[a]: 1\n", "a key must be a plain name")
scen("yaml-empty", "", "the file is empty")
scen("yaml-only-comment", "# nothing\n", "the file is empty")
scen("yaml-scalar-root", "hello\n", "expected")
scen("yaml-list-root", "- a\n- b\n", "expected")
scen("yaml-binary", bytes(range(256)) * 4, "")
scen("yaml-nul-bytes", b"duration: 1s\x00\x00\n", "")
scen("yaml-bad-escape", 'name: "\\q"\n', "not valid YAML")
scen("yaml-anchor-then-merge", "a: &a {x: 1}\nb: {<<: *a}\n", "")
scen("yaml-directive", "%YAML 9.9\n---\nname: x\n", "")
scen("yaml-unknown-tag", "duration: !!binary 1s\n", "")
# ---- scenario: fields, units, limits ----
scen("scen-unknown-top-field", sub("seed: 42", "sede: 42"), "unknown field 'sede' (did you mean 'seed'?)")
scen("scen-missing-duration", sub("duration: 1s\n", ""), "missing required field 'duration'")
scen("scen-duration-no-unit", sub("duration: 1s", "duration: 10"), "has no unit")
scen("scen-duration-bad-unit", sub("duration: 1s", "duration: 1parsec"), "unknown unit")
scen("scen-duration-negative", sub("duration: 1s", "duration: -1s"), "not a duration")
scen("scen-duration-huge", sub("duration: 1s", "duration: 99999999999999999999h"), "too large")
scen("scen-duration-fraction-ns", sub("duration: 1s", "duration: 1.5ns"), "whole number of nanoseconds")
scen("scen-window-not-multiple", sub("window: 100ms", "window: 300ms"), "not a multiple of window")
scen("scen-too-many-windows", sub("window: 100ms", "window: 1us"), "statistics windows, more than the limit")
scen("scen-duration-1000h", sub("window: 100ms", "window: 1s").replace("duration: 1s", "duration: 1000h"), "statistics windows, more than the limit")
scen("scen-seed-text", sub("seed: 42", "seed: abc"), "seed")
scen("scen-seed-negative", sub("seed: 42", "seed: -1"), "seed")
scen("scen-seed-overflow", sub("seed: 42", "seed: 99999999999999999999999"), "seed")
scen("scen-fleet-empty", sub("fleet:\n  - group: dev\n    cpus: 2\n    tasks:\n      - { comm: app, pid: 100 }\n", "fleet: []\n"), "needs at least one host group")
scen("scen-cpus-zero", sub("cpus: 2", "cpus: 0"), "must be between 1 and 8192")
scen("scen-cpus-too-many", sub("cpus: 2", "cpus: 65536"), "must be between 1 and 8192")
scen("scen-hosts-too-many", sub("cpus: 2", "cpus: 2\n    hosts: 2000000"), "must be between 1 and 1000000")
scen("scen-fleet-cpus-product", sub("cpus: 2", "cpus: 8192\n    hosts: 1000000"), "the fleet has 8,192,000,000 CPUs")
scen("scen-rate-1e30", sub("rate: 1000/s", "rate: 1e30/s"), "helper calls")
scen("scen-rate-inf", sub("rate: 1000/s", "rate: inf/s"), "not a non-negative number")
scen("scen-rate-no-slash", sub("rate: 1000/s", "rate: 1000"), "not a rate")
scen("scen-rate-negative", sub("rate: 1000/s", "rate: -5/s"), "not a non-negative number")
scen("scen-rate-bad-unit", sub("rate: 1000/s", "rate: 5/fortnight"), "unknown unit")
scen("scen-calls-product", sub("rate: 1000/s", "rate: 100000000/s").replace("cpus: 2", "cpus: 128\n    hosts: 1000"), "helper calls")
scen("scen-bursts-product", sub("fire: { process: poisson, rate: 1000/s }", "fire: { process: bursts, size: 2000000000, every: 1ns }"), "helper calls")
scen("scen-ring-pages-not-pow2", sub("ring_pages: 1", "ring_pages: 3"), "not a power of two")
scen("scen-ring-pages-huge", sub("ring_pages: 1", "ring_pages: 1048576"), "must be between 0 and 65536")
scen("scen-ring-pages-text", sub("ring_pages: 1", "ring_pages: many"), "ring_pages")
scen("scen-unknown-event-field", sub("ring_pages: 1", "ring_pagez: 1"), "did you mean 'ring_pages'")
scen("scen-unknown-config", sub("out: { per: cpu", "out: { config: bpf_outptu, per: cpu"), "did you mean 'bpf_output'")
scen("scen-unknown-sample-field", sub("out: { per: cpu", "out: { sample_type: [raw, branch_stak], per: cpu"), "did you mean 'branch_stack'")
scen("scen-unknown-perf-type", sub("out: { per: cpu", "out: { type: softwre, per: cpu"), "did you mean 'software'")
scen("scen-undefined-map", sub("map: events, size: 32", "map: evnts, size: 32"), "undefined map 'evnts'")
scen("scen-size-too-big", sub("size: 32", "size: 2000000"), "must be between 0 and 1048576")
scen("scen-unknown-helper", sub("- trace_printk:", "- trace_prinkt:"), "unknown helper")
scen("scen-unknown-process", sub("process: poisson", "process: poison"), "did you mean 'poisson'")
scen("scen-comm-too-long", sub("comm: app", "comm: abcdefghijklmnopq"), "1 to 15 bytes")
scen("scen-pid-too-big", sub("pid: 100", "pid: 5000000"), "pid")
scen("scen-limits-unknown-key", sub("seed: 42", "seed: 42\nlimits: { max_cpus: 10 }"), "unknown limit 'max_cpus'")
scen("scen-limits-bad-value", sub("seed: 42", "seed: 42\nlimits: { max_helper_calls: lots }"), "expected a number of at least 1")
scen("scen-limits-zero", sub("seed: 42", "seed: 42\nlimits: { max_fleet_cpus: 0 }"), "expected a number of at least 1")
scen("scen-limits-lowered", sub("seed: 42", "seed: 42\nlimits: { max_helper_calls: 10 }"), "more than the limit of 10")
scen("scen-object-missing", sub("    body:\n      - perf_event_output: { map: events, size: 32 }\n      - trace_printk: { fmt: \"hello %d\\n\", args: [counter] }\n",
                                "    object: no-such.bpf.o\n    section: raw_tp/x\n"), "", exit_code=2)
scen("scen-object-not-elf", sub("    body:\n      - perf_event_output: { map: events, size: 32 }\n      - trace_printk: { fmt: \"hello %d\\n\", args: [counter] }\n",
                                "    object: ../../../scenarios/quick.yaml\n    section: raw_tp/x\n"), "", exit_code=2)
scen("scen-too-many-printk-args", sub("args: [counter]", "args: [1, 2, 3, 4]"), "at most 3 arguments")
# the same refusals through the other doors that read scenarios
scen("sweep-yaml-unclosed", "seed: [1,2\n", "not valid YAML", cmd="sweep")
scen("sweep-rate-1e30", sub("rate: 1000/s", "rate: 1e30/s"), "helper calls", cmd="sweep")
scen("trace-pipe-yaml-unclosed", "seed: [1,2\n", "not valid YAML", cmd="trace-pipe")
scen("trace-pipe-fleet-product", sub("cpus: 2", "cpus: 8192\n    hosts: 1000000"), "the fleet has", cmd="trace-pipe")
qp = "scenarios/quick.yaml"
case("sweep-vary-no-equals", 2, f"sweep {qp} --vary seed --out {{out}}", "")
case("sweep-vary-unknown-path", 2, f"sweep {qp} --vary sede=1,2 --out {{out}}", "")
case("sweep-vary-bad-value", 2, f"sweep {qp} --vary duration=abc --out {{out}}", "")
case("sweep-vary-bad-range", 2, f"sweep {qp} --vary events.out.ring_pages=1..x*2 --out {{out}}", "")
case("sweep-target-bad", 2, f"sweep {qp} --vary window=100ms,200ms --target lost=>0 --out {{out}}", "")
case("sweep-target-unknown-total", 2, f"sweep {qp} --vary window=100ms,200ms --target lots==0 --out {{out}}", "")
case("sweep-seeds-zero", 2, f"sweep {qp} --vary window=100ms,200ms --seeds 0 --out {{out}}", "")
case("sweep-seeds-text", 2, f"sweep {qp} --vary window=100ms,200ms --seeds many --out {{out}}", "")
case("sweep-vary-ring-pages-huge", 2, f"sweep {qp} --vary events.out.ring_pages=1048576 --out {{out}}", "")
case("sweep-vary-rate-1e30", 2, f"sweep {qp} --vary programs.hello.fire.rate=1e30/s --out {{out}}", "helper calls")
case("sweep-no-vary", 2, f"sweep {qp} --out {{out}}", "")
# ---- CLI arguments of run ----
case("run-missing-file", 2, "run tests/bad-inputs/inputs/no-such.yaml --out {out}", "cannot read the file")
case("run-directory", 2, "run tests/bad-inputs --out {out}", "it is a directory")
case("run-no-argument", 2, "run", "Required argument missing")
case("run-unknown-option", 2, f"run {qp} --colour --out {{out}}", "Unrecognized")
case("run-seed-text", 2, f"run {qp} --seed abc --out {{out}}", "")
case("run-seed-negative", 2, f"run {qp} --seed -1 --out {{out}}", "")
case("run-two-files", 2, f"run {qp} {qp} --out {{out}}", "Unrecognized")
case("unknown-command", 2, "runn scenarios/quick.yaml", "")
case("no-command", 2, "", "Required command")
case("root-unknown-option", 2, "--frobnicate", "Unrecognized")
# ---- exec JSON ----
def execdoc(cid, text, expect, exit_code=2, cmd="exec", ext="json"):
    path = write(cid + "." + ext, text)
    case(cid, exit_code, f"{cmd} {path}", expect)

world = '{"id":"w","cpus":2,"events":{"out":{"cpu":0,"ring_pages":1}},"maps":{"m":{"max_entries":2}},"slots":{"m":["out",null]},"steps":[%s]}'
out_step = '{"call":"perf_event_output","cpu":0,"map":"m","flags":"BPF_F_CURRENT_CPU","data_hex":"01"}'
execdoc("json-unclosed-object", '{"id":"w","cpus":2', "invalid JSON")
execdoc("json-unclosed-string", '{"id":"w', "invalid JSON")
execdoc("json-trailing-comma", '{"id":"w","cpus":2,}', "invalid JSON")
execdoc("json-nan", '{"id":"w","cpus":NaN}', "invalid JSON")
execdoc("json-comment", '{"id":"w" /* hi */}', "invalid JSON")
execdoc("json-single-quotes", "{'id':'w'}", "invalid JSON")
execdoc("json-deep-arrays", "[" * 100000, "invalid JSON")
execdoc("json-deep-objects", '{"a":' * 1000 + "1" + "}" * 1000, "invalid JSON")
execdoc("json-invalid-utf8", b'{"id":"\xff\xfe"}', "invalid JSON")
execdoc("json-invalid-utf8-key", b'{"\xc3\x28":1}', "invalid JSON")
execdoc("json-empty", "", "the document is empty")
execdoc("json-whitespace", "  \n\n ", "the document is empty")
execdoc("json-array-root", "[1,2]", "must be a JSON object")
execdoc("json-number-root", "42", "must be a JSON object")
execdoc("json-duplicate-key", '{"id":"w","id":"v"}', "duplicate field")
execdoc("json-binary", bytes(range(256)), "invalid JSON")
execdoc("exec-cpus-zero", '{"id":"w","cpus":0}', "out of range [1, 8192]")
execdoc("exec-cpus-65536", '{"id":"w","cpus":65536}', "out of range [1, 8192]")
execdoc("exec-cpus-huge-number", '{"id":"w","cpus":1e400}', "")
execdoc("exec-cpus-string", '{"id":"w","cpus":"many"}', "not an integer")
execdoc("exec-ring-pages-2pow20", '{"id":"w","cpus":1024,"events":{"out":{"cpu":0,"ring_pages":1048576}}}', "out of range [0, 65536]")
ev = ",".join(f'"e{i}":{{"cpu":{i},"ring_pages":65536}}' for i in range(1024))
execdoc("exec-ring-bytes-product", '{"id":"w","cpus":1024,"events":{' + ev + '}}', "rings would hold 256 GiB")
execdoc("exec-ring-pages-not-pow2", '{"id":"w","events":{"out":{"cpu":0,"ring_pages":3}}}', "power of two")
execdoc("exec-steps-limit", '{"id":"w","limits":{"max_steps":2},"steps":[{"call":"read_trace_pipe"},{"call":"read_trace_pipe"},{"call":"read_trace_pipe"}]}', "more than the limit of 2")
execdoc("exec-limits-unknown", '{"id":"w","limits":{"max_stpes":2}}', 'unknown limit')
execdoc("exec-limits-zero", '{"id":"w","limits":{"max_steps":0}}', "at least 1")
execdoc("exec-unknown-field", '{"id":"w","stpes":[]}', 'unknown field')
execdoc("exec-unknown-call", world % '{"call":"perf_event_outptu"}', "unknown call")
execdoc("exec-unknown-sample-field", '{"id":"w","events":{"out":{"cpu":0,"sample_type":["branch_stak"]}}}', "unknown sample field")
execdoc("exec-unsupported-sample-field", '{"id":"w","events":{"out":{"cpu":0,"sample_type":["branch_stack"]}}}', "EINVAL")
execdoc("exec-unknown-config", '{"id":"w","events":{"out":{"cpu":0,"config":"bpf_outptu"}}}', "unknown config")
execdoc("exec-hardware-no-pmu", '{"id":"w","events":{"out":{"cpu":0,"config":"branches"}}}', "no PMU")
execdoc("exec-pid-cpu-both-minus-one", '{"id":"w","events":{"out":{"cpu":-1,"pid":-1}}}', "pid -1 and cpu -1")
execdoc("exec-map-undefined", world % '{"call":"perf_event_output","cpu":0,"map":"nope","data_hex":"01"}', "no perf event array")
execdoc("exec-cpu-out-of-range", world % '{"call":"perf_event_output","cpu":5,"map":"m","data_hex":"01"}', "out of range")
execdoc("exec-bad-hex", world % '{"call":"perf_event_output","cpu":0,"map":"m","data_hex":"0"}', "hex digits")
execdoc("exec-output-size-huge", world % '{"call":"perf_event_output","cpu":0,"map":"m","size":100000000}', "at most 16 MiB")
execdoc("exec-advance-overflow", world % '{"advance_ns":18446744073709551615},{"advance_ns":1}', "overflow")
execdoc("exec-object-missing", '{"id":"w","programs":{"p":{"object":"no-such.bpf.o"}}}', "cannot read")
execdoc("exec-object-not-elf", '{"id":"w","programs":{"p":{"object":"../../../scenarios/quick.yaml"}}}', "not an ELF")
execdoc("exec-object-directory", '{"id":"w","programs":{"p":{"object":"."}}}', "cannot read")
execdoc("exec-btf-types-bad", '{"id":"w","btf_types":{"x":{"kind":"nope"}}}', "")
execdoc("exec-second-world-bad", '{"id":"a"}\n{"id":"b","cpus":0}\n', "out of range")
case("exec-missing-file", 2, "exec tests/bad-inputs/inputs/no-such.json", "cannot read")
case("exec-directory", 2, "exec tests/bad-inputs", "it is a directory")
case("exec-max-worlds", 2, "exec scenarios/exec/bpf-object.json --max-worlds 1", "worlds, more than the limit of 1")
case("exec-max-worlds-text", 2, "exec scenarios/exec/bpf-object.json --max-worlds x", "")
# ---- iter ----
execdoc("iter-unclosed", '{"id":"ps","iter":{', "invalid JSON", cmd="iter")
execdoc("iter-missing-iter", '{"id":"ps"}', "missing required field", cmd="iter")
execdoc("iter-two-documents", '{"id":"a","iter":{}}\n{"id":"b","iter":{}}', "one JSON object", cmd="iter")
execdoc("iter-bad-target", '{"id":"ps","iter":{"target":"files","body":[]}}', "", cmd="iter")
execdoc("iter-deep", '{"iter":' * 500 + "1" + "}" * 500, "invalid JSON", cmd="iter")
execdoc("iter-empty", "", "", cmd="iter")
case("iter-missing-file", 2, "iter tests/bad-inputs/inputs/no-such.json", "cannot read")
# ---- inspect: ELF and BTF ----
obj = (root / "tests/bpf/perf_only.bpf.o").read_bytes()
def elf(cid, data, expect=""):
    path = write(cid + ".o", data)
    case(cid, 2, f"inspect {path}", expect)
elf("elf-empty", b"", "not an ELF file")
elf("elf-text", b"hello world\n", "not an ELF file")
elf("elf-magic-only", b"\x7fELF", "not an ELF file")
elf("elf-32bit", obj[:4] + b"\x01" + obj[5:], "not ELF64")
elf("elf-big-endian", obj[:5] + b"\x02" + obj[6:], "not ELF64")
elf("elf-x86-machine", obj[:18] + b"\x3e\x00" + obj[20:], "not EM_BPF")
for n in (64, 200, len(obj) // 2, len(obj) - 100):
    elf(f"elf-truncated-{n}", obj[:n])
def patch(data, off, b):
    return data[:off] + b + data[off + len(b):]
elf("elf-shoff-past-end", patch(obj, 0x28, (0xffffffff).to_bytes(8, "little")))
elf("elf-shnum-huge", patch(obj, 0x3c, (0xffff).to_bytes(2, "little")))
elf("elf-shstrndx-bad", patch(obj, 0x3e, (0xfff0).to_bytes(2, "little")))
elf("elf-shentsize-zero", patch(obj, 0x3a, (0).to_bytes(2, "little")))
btf = obj.find(b"\x9f\xeb\x01")  # BTF magic 0xeb9f, version 1
if btf > 0:
    elf("btf-bad-version", patch(obj, btf + 2, b"\x09"))
    elf("btf-type-len-huge", patch(obj, btf + 12, (0x7fffffff).to_bytes(4, "little")))
    elf("btf-str-off-huge", patch(obj, btf + 16, (0x7fffffff).to_bytes(4, "little")))
    elf("btf-hdr-len-huge", patch(obj, btf + 4, (0xffffffff).to_bytes(4, "little")))
    elf("btf-garbage-types", obj[:btf + 24] + bytes([0xff]) * 64 + obj[btf + 88:])
case("inspect-missing-file", 2, "inspect tests/bad-inputs/inputs/no-such.o", "cannot read")
case("inspect-directory", 2, "inspect tests/bad-inputs", "")
# ---- report ----
def report(cid, text, expect=""):
    path = write(cid + ".json", text)
    case(cid, 2, f"report {path}", expect)
report("report-not-json", "hello", "")
report("report-empty", "", "")
report("report-array", "[1,2,3]", "")
report("report-empty-object", "{}", "")
report("report-wrong-types", '{"name": 5, "totals": "many", "helpers": [1]}', "")
report("report-deep", "[" * 10000 + "]" * 10000, "")
report("report-truncated", (root / "scenarios/quick.yaml").read_text()[:10], "")
case("report-missing-file", 2, "report tests/bad-inputs/inputs/no-such.json", "")
case("report-top-text", 2, "report tests/bad-inputs/inputs/report-empty-object.json --top x", "")
# ---- load (CLI arguments only: each is refused before a silo starts) ----
case("load-batch-zero", 2, "load --batch 0 --out {out}", "--batch must be positive")
case("load-callers-negative", 2, "load --callers -3 --out {out}", "--callers must be positive")
case("load-cpus-zero", 2, "load --cpus 0 --out {out}", "--cpus must be positive")
case("load-cpus-too-many", 2, "load --cpus 100000 --out {out}", "--cpus")
case("load-rate-negative", 2, "load --rate -5 --out {out}", "--rate must be positive")
case("load-duration-bad", 2, "load --duration forever --out {out}", "")
case("load-duration-zero", 2, "load --duration 0s --out {out}", "--duration must be positive")
case("load-mix-unknown", 2, "load --mix bogus --out {out}", "")
case("load-mix-empty", 2, "load --mix , --out {out}", "--mix names no helper call")
case("load-batch-text", 2, "load --batch lots --out {out}", "")
# ---- trace-pipe ----
case("trace-pipe-missing-file", 2, "trace-pipe tests/bad-inputs/inputs/no-such.yaml", "not a scenario file")

(here / "cases.tsv").write_text("".join("\t".join(c) + "\n" for c in cases))
print(f"{len(cases)} cases, {len(list(inp.iterdir()))} input files")
