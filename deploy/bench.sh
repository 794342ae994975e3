#!/usr/bin/env bash
# Records one benchmark run for BENCHMARKS.md: builds the release binaries, notes the
# machine and what else is running, runs `weftctl bench --start-cluster` with the given
# extra flags (e.g. `--repeat 3`, `--scenarios s1,s2`), keeps its JSON lines, and prints a
# markdown table of medians and spreads.
#
#   deploy/bench.sh --repeat 3            # everything, BENCH.md's sizes
#   deploy/bench.sh --size small --repeat 1
#
# Output goes to target/bench/<UTC time>.{env,jsonl,md} (WEFT_BENCH_OUT overrides the directory).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${WEFT_BENCH_OUT:-target/bench}
mkdir -p "$out"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
cargo build --release -p weft-cli -p weft-coordinator -p weft-worker

command=(./target/release/weftctl bench --start-cluster "$@")
{
    echo "date: $(date -u +%FT%TZ)"
    if git rev-parse --git-dir >/dev/null 2>&1; then
        echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates proto || echo ' (working tree differs)')"
    else
        echo "commit: unknown (not a git checkout)"
    fi
    echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
    echo "loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "busiest processes before:"
    ps -eo pcpu,rss,comm --sort=-pcpu | head -6 | sed 's/^/  /'
    echo "command: ${command[*]}"
} | tee "$out/$stamp.env"

"${command[@]}" -o json | tee "$out/$stamp.jsonl"
echo "loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/$stamp.env"

python3 - "$out/$stamp.jsonl" <<'PY' | tee "$out/$stamp.md"
import json, math, sys

def num(x):
    """Three significant digits, thousands separated: 20,413  1,234  12.3  0.432."""
    if x is None:
        return "-"
    magnitude = 0 if x == 0 else math.floor(math.log10(abs(x)))
    return f"{x:,.{min(6, max(0, 2 - magnitude))}f}"

print("| scenario | metric | median | min–max | unit | n |")
print("|---|---|---|---|---|---|")
for line in open(sys.argv[1]):
    s = json.loads(line)
    if s["skipped"]:
        print(f"| {s['scenario']} | skipped | | | | {s['skipped']} |")
        continue
    for name, st in s["summary"].items():
        print(f"| {s['scenario']} | {name} | {num(st['median'])} | {num(st['min'])}–{num(st['max'])} | {st['unit']} | {st['n']} |")
    facts = {}
    for r in s["repeats"]:
        for k, v in r.items():
            if k not in s["summary"]:
                facts.setdefault(k, []).append(str(v).lower() if isinstance(v, bool) else str(v))
    for k, vs in facts.items():
        shown = vs[0] if len(set(vs)) == 1 else " / ".join(vs)
        print(f"| {s['scenario']} | {k} | {shown} | | | {len(vs)} |")
    for e in s["errors"]:
        print(f"| {s['scenario']} | error | {e} | | | |")
PY
