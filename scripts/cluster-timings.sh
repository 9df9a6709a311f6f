#!/usr/bin/env bash
# Times a local three-broker cluster (combined mode, release build) as the closing
# figures of the cluster work ask: how long the quorum takes to have a new active
# controller after the active one is killed (kill -9, median of N kills), and how long
# creating a topic takes on the cluster against a single broker (median of M).
#
#   scripts/cluster-timings.sh [kills=10] [creates=20]
#
# Each figure includes the admin CLI's own start (a few milliseconds), equally for the
# cluster and the single broker; the machine's other load shows in the spread.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
kills=${1:-10}
creates=${2:-20}
bin=${BIN:-target/release/aeon}
[ -x "$bin" ] || cargo build --release --bin aeon
dir=$(mktemp -d)
voters="1@127.0.0.1:19391,2@127.0.0.1:19392,3@127.0.0.1:19393"
declare -A pid
start_node() {
    local i=$1
    cat > "$dir/node$i.toml" <<TOML
node.id = $i
process.roles = "broker,controller"
listeners = "PLAINTEXT://127.0.0.1:1929$i,CONTROLLER://127.0.0.1:1939$i"
controller.listener.names = "CONTROLLER"
controller.quorum.voters = "$voters"
log.dirs = "$dir/data$i"
metrics.listener = ""
TOML
    "$bin" --config "$dir/node$i.toml" 2>> "$dir/node$i.log" &
    pid[$i]=$!
}
cleanup() {
    kill -9 "${pid[@]}" 2>/dev/null || true
    [ -n "${single:-}" ] && kill -9 "$single" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
now_ms() { date +%s%3N; }
# The metadata quorum's leader as DescribeQuorum on node $1 answers (-1 during an election).
controller() { "$bin" cluster info -b "127.0.0.1:1929$1" 2>/dev/null | awk '/^quorum leader:/ {print $3}'; }
brokers() { "$bin" cluster info -b "127.0.0.1:1929$1" 2>/dev/null | awk 'f {n++} /^BROKER/ {f=1} END {print n+0}'; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "median %s ms (min %s, max %s, n=%d)\n", m, a[1], a[NR], NR}'; }
wait_for() { # seconds, command...
    local deadline=$(( $(date +%s) + $1 )); shift
    until "$@"; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "timed out: $*" >&2; exit 1; }
        sleep 0.02
    done
}
all_three() { [ "$(brokers 1)" = 3 ] && [ "$(brokers 2)" = 3 ] && [ "$(brokers 3)" = 3 ]; }

for i in 1 2 3; do start_node "$i"; done
wait_for 60 all_three

: > "$dir/failover"
for k in $(seq 1 "$kills"); do
    old=$(controller 1)
    survivor=$(( old % 3 + 1 ))
    t0=$(now_ms)
    kill -9 "${pid[$old]}"
    new_controller() { c=$(controller "$survivor"); [ -n "$c" ] && [ "$c" != "$old" ] && [ "$c" -gt 0 ]; }
    wait_for 30 new_controller
    echo $(( $(now_ms) - t0 )) >> "$dir/failover"
    wait "${pid[$old]}" 2>/dev/null || true
    start_node "$old"
    wait_for 60 all_three
    sleep 1
done
echo "controller failover after kill -9: $(median < "$dir/failover")"

# Times $creates topic creations (3 partitions each) through the broker at $1.
time_creates() {
    for n in $(seq 1 "$creates"); do
        t0=$(now_ms)
        "$bin" topic create -b "$1" -p 3 "timed-$n" > /dev/null
        echo $(( $(now_ms) - t0 ))
    done | median
}
echo "topic creation (3 partitions), three-broker cluster: $(time_creates 127.0.0.1:19291)"

# No operations listener: its default port may be taken on this machine.
AEON_METRICS_LISTENER= "$bin" --listen 127.0.0.1:19299 --data-dir "$dir/single" 2>> "$dir/single.log" &
single=$!
wait_for 30 bash -c "\"$bin\" cluster info -b 127.0.0.1:19299 > /dev/null 2>&1"
echo "topic creation (3 partitions), single broker:      $(time_creates 127.0.0.1:19299)"
