#!/usr/bin/env bash
# The cost of the metrics: produce throughput and broker CPU per GB with the operations
# listener on (metrics recorded) and off (`metrics.listener = ""`: nothing recorded),
# alternating on/off in one sitting, each run on a fresh broker; prints the medians and
# their ratios.
#   RUNS=9 scripts/metrics-cost.sh
# Needs: cargo (release build), python3. Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-9}
MESSAGES=${MESSAGES:-2000000}
OUT=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$OUT"' EXIT

cargo build --release --workspace --quiet
AEON=target/release/aeon
BENCH=target/release/aeon-bench

# run NAME LISTENER INDEX: one fresh broker, one produce run, its JSON report kept.
run() {
    local name=$1 listener=$2 i=$3 dir="$OUT/$1.$3" addr=""
    mkdir -p "$dir"
    AEON_METRICS_LISTENER="$listener" RUST_LOG=aeon=info "$AEON" --listen 127.0.0.1:0 \
        --data-dir "$dir/data" 2> "$dir/log" &
    local pid=$!
    for _ in $(seq 100); do
        addr=$(sed -n 's/.*listening addr=\([0-9.:]*\).*/\1/p' "$dir/log" | head -1)
        [ -n "$addr" ] && break
        sleep 0.1
    done
    [ -n "$addr" ] || { echo "broker $name did not start" >&2; cat "$dir/log" >&2; exit 1; }
    "$BENCH" produce --bootstrap "$addr" --broker-pid "$pid" --topic cost --create-topic \
        --partitions 1 --messages "$MESSAGES" --size 100 --acks 1 --linger-ms 5 --json \
        > "$OUT/$name.$i.json"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$dir/data"
}

for i in $(seq "$RUNS"); do
    # Alternate which goes first, so a drift of the machine weighs on both alike.
    if (( i % 2 )); then run on 127.0.0.1:0 "$i"; run off "" "$i"
    else run off "" "$i"; run on 127.0.0.1:0 "$i"; fi
    echo "done: pair $i" >&2
done

python3 - "$OUT" "$RUNS" <<'PY'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
def load(name):
    rs = [json.load(open(f"{out}/{name}.{i}.json")) for i in range(1, runs + 1)]
    return [r["msgs_per_sec"] for r in rs], [r["broker"]["cpu_seconds_per_gb"] for r in rs]
on_t, on_c = load("on")
off_t, off_c = load("off")
print(f"runs per side: {runs}")
print("| metrics | msgs/s, median | broker CPU-s/GB, median |")
print("|---|---|---|")
print(f"| off | {statistics.median(off_t):,.0f} | {statistics.median(off_c):.2f} |")
print(f"| on | {statistics.median(on_t):,.0f} | {statistics.median(on_c):.2f} |")
print(f"throughput on/off: {statistics.median(on_t) / statistics.median(off_t):.3f}; "
      f"CPU per GB on/off: {statistics.median(on_c) / statistics.median(off_c):.3f}")
pairs = sorted(a / b for a, b in zip(on_t, off_t))
print(f"per-pair throughput ratios on/off: {', '.join(f'{p:.2f}' for p in pairs)} "
      f"(median {statistics.median(pairs):.3f})")
PY
