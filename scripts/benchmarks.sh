#!/usr/bin/env bash
# Reproduces BENCHMARKS.md: starts release brokers on loopback with temporary data dirs,
# runs every row RUNS times with aeon-bench, and prints the table (medians).
#   RUNS=3 scripts/benchmarks.sh            # the whole table
#   ROWS="produce-100-acks1" scripts/benchmarks.sh
# Needs: cargo (release build), python3 (medians). Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
OUT=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$OUT"' EXIT

cargo build --release --workspace --quiet
AEON=target/release/aeon
BENCH=target/release/aeon-bench

# Starts a broker with extra AEON_* settings; sets BROKER_ADDR and BROKER_PID.
start_broker() {
    local name=$1; shift
    mkdir -p "$OUT/$name"
    env AEON_METRICS_LISTENER=127.0.0.1:0 "$@" RUST_LOG=aeon=info "$AEON" --listen 127.0.0.1:0 --data-dir "$OUT/$name/data" \
        2> "$OUT/$name/log" &
    BROKER_PID=$!
    for _ in $(seq 100); do
        BROKER_ADDR=$(sed -n 's/.*listening addr=\([0-9.:]*\).*/\1/p' "$OUT/$name/log" | head -1)
        [ -n "$BROKER_ADDR" ] && return 0
        sleep 0.1
    done
    echo "broker $name did not start" >&2; cat "$OUT/$name/log" >&2; exit 1
}

# row NAME COMMAND...: runs COMMAND RUNS times, keeping each JSON report.
row() {
    local name=$1; shift
    if [ -n "${ROWS:-}" ] && [[ " $ROWS " != *" $name "* ]]; then return 0; fi
    for i in $(seq "$RUNS"); do
        "$@" --json > "$OUT/$name.$i.json"
    done
    echo "done: $name" >&2
}

start_broker default
DEFAULT_ADDR=$BROKER_ADDR DEFAULT_PID=$BROKER_PID
common=(--bootstrap "$DEFAULT_ADDR" --broker-pid "$DEFAULT_PID" --limit --limit-dir "$OUT/default/data")

row produce-100-acks1   "$BENCH" produce "${common[@]}" --topic p100 --create-topic --partitions 1 --messages 2000000 --size 100 --acks 1 --linger-ms 5
row produce-100-acksall "$BENCH" produce "${common[@]}" --topic p100all --create-topic --partitions 1 --messages 2000000 --size 100 --acks all --linger-ms 5
row produce-1k-acks1    "$BENCH" produce "${common[@]}" --topic p1k --create-topic --partitions 1 --messages 300000 --size 1024 --acks 1 --linger-ms 5
row produce-1k-acksall  "$BENCH" produce "${common[@]}" --topic p1kall --create-topic --partitions 1 --messages 300000 --size 1024 --acks all --linger-ms 5
row consume-100-default "$BENCH" consume "${common[@]}" --topic p100 --messages 2000000
row consume-100-wait10  "$BENCH" consume "${common[@]}" --topic p100 --messages 2000000 --fetch-wait-ms 10
row consume-1k-default  "$BENCH" consume "${common[@]}" --topic p1k --messages 300000 --size 1024
row e2e-1k-10k-acksall  "$BENCH" e2e "${common[@]}" --topic e2e --create-topic --partitions 1 --messages 50000 --size 1024 --acks all --linger-ms 0 --rate 10000

start_broker fsync AEON_LOG_FLUSH_BEFORE_ACK=true
fsync=(--bootstrap "$BROKER_ADDR" --broker-pid "$BROKER_PID" --limit --limit-dir "$OUT/fsync/data")
row produce-1k-acksall-fsync "$BENCH" produce "${fsync[@]}" --topic p1kf --create-topic --partitions 1 --messages 300000 --size 1024 --acks all --linger-ms 5
row produce-100-acksall-fsync "$BENCH" produce "${fsync[@]}" --topic p100f --create-topic --partitions 1 --messages 2000000 --size 100 --acks all --linger-ms 5
row e2e-1k-10k-acksall-fsync "$BENCH" e2e "${fsync[@]}" --topic e2ef --create-topic --partitions 1 --messages 50000 --size 1024 --acks all --linger-ms 0 --rate 10000

# Memory at rest: a fresh broker with 1,000 partitions, then with 1,000 idle connections.
start_broker rss
"$BENCH" produce --bootstrap "$BROKER_ADDR" --topic many --create-topic --partitions 1000 --messages 1000 --size 100 --json > /dev/null
python3 - "$BROKER_ADDR" "$BROKER_PID" "$OUT/rss.json" <<'PY'
import json, socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
pid, out = sys.argv[2], sys.argv[3]
def status():
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "RssAnon", "RssFile"):
            fields[k] = int(v.split()[0]) * 1024
    return fields
time.sleep(2)
at_rest = status()
socks = [socket.create_connection((host, int(port))) for _ in range(1000)]
time.sleep(2)
with_conns = status()
json.dump({"partitions_1000": at_rest, "plus_connections_1000": with_conns}, open(out, "w"))
for s in socks: s.close()
PY
echo "done: rss" >&2

python3 - "$OUT" "$RUNS" <<'PY'
import glob, json, os, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
def med(xs): return statistics.median(xs) if xs else float("nan")
rows = sorted({os.path.basename(p).rsplit(".", 2)[0] for p in glob.glob(f"{out}/*.*.json")})
print(f"| row | msgs/s | MB/s | latency p50 / p99 / p99.9 ms | broker CPU s/GB | of loopback | of disk (no fsync) | of disk (fsync/MiB) |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    reps = [json.load(open(p)) for p in sorted(glob.glob(f"{out}/{r}.*.json"))]
    lat = [x["latency_ms"] for x in reps if x.get("latency_ms")]
    lim = [x["limit"] for x in reps if x.get("limit")]
    cost = [x["broker"] for x in reps if x.get("broker")]
    latency = " / ".join(f"{med([l[k] for l in lat]):.2f}" for k in ("p50", "p99", "p99_9")) if lat else "-"
    print(f"| {r} | {med([x['msgs_per_sec'] for x in reps]):,.0f} | {med([x['mb_per_sec'] for x in reps]):.1f} | {latency} | "
          f"{med([c['cpu_seconds_per_gb'] for c in cost]):.2f} | {med([l['of_loopback'] for l in lim]):.2f} | "
          f"{med([l['of_disk_no_fsync'] for l in lim]):.2f} | {med([l['of_disk_fsync_1mib'] for l in lim]):.2f} |")
rss = os.path.join(out, "rss.json")
if os.path.exists(rss):
    r = json.load(open(rss))
    for k, v in r.items():
        print(f"\n{k}: RSS {v['VmRSS']/1e6:.1f} MB (anonymous {v['RssAnon']/1e6:.1f} MB, file-backed {v['RssFile']/1e6:.1f} MB)", end="")
    print()
print(f"\n(medians of {runs} runs; MB = 10^6 bytes)")
PY
