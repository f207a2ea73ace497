#!/usr/bin/env python3
"""Runs every case of cases.tsv through the real CLI and prints a Markdown table (id, exit,
first stderr line, verdict). Usage: python3 tests/bad-inputs/run.py [path/to/bpfsim.dll] > table.md
A case passes when it exits with its expected code, prints no stack trace, stays under 10 s,
and leaves its {out} path absent."""
import os, pathlib, shutil, subprocess, sys, tempfile, time

here = pathlib.Path(__file__).resolve().parent
root = here.parent.parent
dll = sys.argv[1] if len(sys.argv) > 1 else str(root / "artifacts/bin/Client/release/bpfsim.dll")
tmp = pathlib.Path(tempfile.mkdtemp(prefix="bad-inputs-"))
rows, bad = [], 0
for line in (here / "cases.tsv").read_text().splitlines():
    cid, want, args, expect = line.split("\t")
    out = tmp / cid
    argv = [a.replace("{out}", str(out)) for a in args.split()] if args else []
    t0 = time.monotonic()
    try:
        p = subprocess.run(["dotnet", dll, *argv], cwd=root, capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
        code, err = p.returncode, p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        code, err = "timeout", ""
    ms = (time.monotonic() - t0) * 1000
    first = err.strip().splitlines()[0] if err.strip() else ""
    ok = str(code) == want and "   at " not in err and "Unhandled" not in err and not out.exists() and expect in err
    bad += not ok
    cell = first.replace("|", "\\|").replace(str(root) + "/", "")
    if len(cell) > 220: cell = cell[:217] + "..."
    rows.append(f"| {cid} | {code} | {ms:.0f} | {cell} | {'ok' if ok else 'FAIL'} |")
shutil.rmtree(tmp, ignore_errors=True)
print(f"{len(rows)} bad inputs, {len(rows) - bad} refused as expected, {bad} not\n")
print("| case | exit | ms | stderr (first line) | |")
print("|---|---|---|---|---|")
print("\n".join(rows))
sys.exit(1 if bad else 0)
