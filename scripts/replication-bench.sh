#!/usr/bin/env bash
# Replication's cost, measured on one three-broker cluster (release binaries, loopback,
# temporary data dirs): a topic of three replicas with acks=all against a topic of one
# replica with acks=1, at 100 B and 1 KiB: produce throughput, end-to-end latency at
# 10,000 msg/s, and the CPU of all three brokers per GB produced. Medians of RUNS runs.
#   RUNS=3 scripts/replication-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
OUT=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$OUT"' EXIT
cargo build --release --workspace --quiet
AEON=target/release/aeon
BENCH=target/release/aeon-bench

ports=() cports=()
for i in 1 2 3; do
    ports+=("$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')")
    cports+=("$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')")
done
voters="1@127.0.0.1:${cports[0]},2@127.0.0.1:${cports[1]},3@127.0.0.1:${cports[2]}"
for i in 1 2 3; do
    cat > "$OUT/node$i.toml" <<TOML
node.id = $i
process.roles = "broker,controller"
listeners = "PLAINTEXT://127.0.0.1:${ports[$((i-1))]},CONTROLLER://127.0.0.1:${cports[$((i-1))]}"
controller.listener.names = "CONTROLLER"
controller.quorum.voters = "$voters"
log.dirs = "$OUT/data$i"
metrics.listener = ""
TOML
    RUST_LOG=aeon=info "$AEON" --config "$OUT/node$i.toml" 2> "$OUT/node$i.log" &
    pids+=($!)
done
bootstrap="127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
for _ in $(seq 200); do
    grep -q "listening addr" "$OUT/node1.log" && grep -q "listening addr" "$OUT/node2.log" \
        && grep -q "listening addr" "$OUT/node3.log" && break
    sleep 0.1
done

# CPU seconds of the three brokers so far.
cpu() {
    python3 - "${pids[@]}" <<'PY'
import os, sys
tick = os.sysconf("SC_CLK_TCK")
total = 0
for pid in sys.argv[1:]:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    total += int(fields[11]) + int(fields[12])
print(total / tick)
PY
}

# row NAME COMMAND...: RUNS runs, each report with the brokers' CPU seconds added.
row() {
    local name=$1; shift
    for i in $(seq "$RUNS"); do
        local before after
        before=$(cpu)
        "$@" --json > "$OUT/$name.$i.json"
        after=$(cpu)
        python3 - "$OUT/$name.$i.json" "$before" "$after" <<'PY'
import json, sys
path, before, after = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
r = json.load(open(path))
r["cluster_cpu_seconds"] = after - before
json.dump(r, open(path, "w"))
PY
    done
    echo "done: $name" >&2
}

for rf in 1 3; do
    for size in 100 1024; do
        "$AEON" topic create "p-rf$rf-$size" -p 3 -r "$rf" -b "127.0.0.1:${ports[0]}" > /dev/null
        "$AEON" topic create "e-rf$rf-$size" -p 3 -r "$rf" -b "127.0.0.1:${ports[0]}" > /dev/null
    done
done
sleep 2
for size in 100 1024; do
    messages=$(( size == 100 ? 2000000 : 300000 ))
    row "produce-$size-rf1-acks1" "$BENCH" produce --bootstrap "$bootstrap" --topic "p-rf1-$size" --messages "$messages" --size "$size" --acks 1 --linger-ms 5
    row "produce-$size-rf3-acksall" "$BENCH" produce --bootstrap "$bootstrap" --topic "p-rf3-$size" --messages "$messages" --size "$size" --acks all --linger-ms 5
    row "e2e-$size-10k-rf1-acks1" "$BENCH" e2e --bootstrap "$bootstrap" --topic "e-rf1-$size" --messages 50000 --size "$size" --acks 1 --linger-ms 0 --rate 10000
    row "e2e-$size-10k-rf3-acksall" "$BENCH" e2e --bootstrap "$bootstrap" --topic "e-rf3-$size" --messages 50000 --size "$size" --acks all --linger-ms 0 --rate 10000
done

python3 - "$OUT" "$RUNS" <<'PY'
import glob, json, os, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
def med(xs): return statistics.median(xs) if xs else float("nan")
rows = sorted({os.path.basename(p).rsplit(".", 2)[0] for p in glob.glob(f"{out}/*.*.json")})
print("| row | msgs/s | MB/s | latency p50 / p99 / p99.9 ms | CPU s/GB, three brokers |")
print("|---|---|---|---|---|")
for r in rows:
    reps = [json.load(open(p)) for p in sorted(glob.glob(f"{out}/{r}.*.json"))]
    lat = [x["latency_ms"] for x in reps if x.get("latency_ms")]
    latency = " / ".join(f"{med([l[k] for l in lat]):.2f}" for k in ("p50", "p99", "p99_9")) if lat else "-"
    # A paced e2e run is mostly idle: its CPU per GB measures the idle brokers.
    cpu = "-" if r.startswith("e2e") else f'{med([x["cluster_cpu_seconds"] / (x["bytes"] / 1e9) for x in reps if x["bytes"]]):.2f}'
    print(f"| {r} | {med([x['msgs_per_sec'] for x in reps]):,.0f} | {med([x['mb_per_sec'] for x in reps]):.1f} | {latency} | {cpu} |")
print(f"\n(medians of {runs} runs; MB = 10^6 bytes; CPU of all three brokers over each run, per GB of payload produced)")
PY
