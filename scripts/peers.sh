#!/usr/bin/env bash
# Aeon beside a peer broker in one sitting, with librdkafka's own load tool
# (`rdkafka_performance`, driven by the peer kit's `bench.sh`): for each run, each size
# and each broker in turn, every test of the kit, with the broker's CPU time read from
# /proc between tests. Prints a markdown table of medians and ratios.
#   RUNS=3 scripts/peers.sh
#   SIZES="100 1024" TESTS="p_acks1_linger5 consume" scripts/peers.sh
# Needs the kit built under $KIT (default /tmp/peers: bin/rdkafka_performance,
# bin/mktopic, bench.sh, tansu-bin/bin/tansu), python3, and a release build of Aeon.
# The peer is tansu's in-memory engine (it persists nothing); traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

KIT=${KIT:-/tmp/peers}
RUNS=${RUNS:-3}
SIZES=${SIZES:-"100 1024"}
TESTS=${TESTS:-"p_acks1_linger0 p_acks1_linger5 p_acksall_linger0 p_acksall_linger5 consume consume_fw5 lat_acksall_10k"}
OUT=${OUT:-$(mktemp -d)}
AEON_PORT=39092 PEER_PORT=39093
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT

cargo build --release --bin aeon --quiet

cpu_seconds() { # utime + stime of pid $1, in seconds
    awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}

wait_port() {
    for _ in $(seq 100); do
        ss -ltn | grep -q "127.0.0.1:$1 " && return 0
        sleep 0.1
    done
    echo "nothing listens on $1" >&2
    exit 1
}

start() { # aeon|tansu: a fresh broker, its pid in BROKER_PID
    case $1 in
    aeon)
        rm -rf "$OUT/aeon-data"
        AEON_METRICS_LISTENER=127.0.0.1:0 target/release/aeon --listen "127.0.0.1:$AEON_PORT" \
            --data-dir "$OUT/aeon-data" 2> "$OUT/aeon.log" &
        BROKER_PID=$!
        wait_port $AEON_PORT
        ;;
    tansu)
        "$KIT/tansu-bin/bin/tansu" broker --listener-url "tcp://127.0.0.1:$PEER_PORT" \
            --advertised-listener-url "tcp://127.0.0.1:$PEER_PORT" --storage-engine memory://tansu/ \
            > "$OUT/tansu.log" 2>&1 &
        BROKER_PID=$!
        wait_port $PEER_PORT
        ;;
    esac
}

: > "$OUT/results"
for run in $(seq "$RUNS"); do
    for size in $SIZES; do
        # 1 KiB moves the same bytes in fewer messages.
        msgs=$((size >= 1024 ? 300000 : 1000000))
        for broker in aeon tansu; do
            start $broker
            port=$([ $broker = aeon ] && echo $AEON_PORT || echo $PEER_PORT)
            before=$(cpu_seconds "$BROKER_PID")
            MSGS=$msgs SIZE=$size TESTS=$TESTS TAG=$broker bash "$KIT/bench.sh" "127.0.0.1:$port" 2> /dev/null |
                while read -r line; do
                    case $line in RESULT*) ;; *) continue ;; esac
                    now=$(cpu_seconds "$BROKER_PID")
                    echo "$line run=$run broker_cpu_s=$(echo "$now - $before" | bc)"
                    before=$now
                done >> "$OUT/results"
            kill "$BROKER_PID"
            wait "$BROKER_PID" 2> /dev/null || true
            echo "run $run, $size B, $broker: done" >&2
        done
    done
done

python3 - "$OUT/results" <<'EOF'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    count = f.get("received") or f.get("delivered") or "na"
    n = int(count) if count != "na" else 0
    gb = n * int(f["size"]) / 1e9
    rows.setdefault((f["test"], f["size"]), {}).setdefault(f["tag"], []).append({
        "mps": float(f["msgs_per_s"]) if f["msgs_per_s"] != "na" else None,
        "mbs": float(f["MB_per_s"]) if f["MB_per_s"] != "na" else None,
        "p50": float(f["lat_p50_ms"]) if f.get("lat_p50_ms", "na") != "na" else None,
        "p99": float(f["lat_p99_ms"]) if f.get("lat_p99_ms", "na") != "na" else None,
        "cpu_gb": float(f["broker_cpu_s"]) / gb if gb else None,
    })
def med(runs, k):
    v = [r[k] for r in runs if r[k] is not None]
    return statistics.median(v) if v else None
def fmt(x, spec):
    return "-" if x is None else format(x, spec)
def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"
print("| test | size | Aeon msgs/s | tansu msgs/s | ratio | Aeon p50 / p99 ms | tansu p50 / p99 ms | Aeon CPU-s/GB | tansu CPU-s/GB | ratio | runs |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (test, size), by in sorted(rows.items(), key=lambda kv: (int(kv[0][1]), kv[0][0])):
    a, t = by.get("aeon", []), by.get("tansu", [])
    lat = lambda r: "-" if med(r, "p99") is None else f"{fmt(med(r, 'p50'), '.2f')} / {fmt(med(r, 'p99'), '.2f')}"
    print(f"| {test} | {size} B | {fmt(med(a, 'mps'), ',.0f')} | {fmt(med(t, 'mps'), ',.0f')} | {ratio(med(a, 'mps'), med(t, 'mps'))} "
          f"| {lat(a)} | {lat(t)} | {fmt(med(a, 'cpu_gb'), '.2f')} | {fmt(med(t, 'cpu_gb'), '.2f')} | {ratio(med(a, 'cpu_gb'), med(t, 'cpu_gb'))} | {len(a)} / {len(t)} |")
EOF
echo "raw results: $OUT/results" >&2
