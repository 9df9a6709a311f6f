#!/usr/bin/env bash
# Starts a local three-broker Aeon cluster in KRaft's combined mode (each node a broker
# and a voter of the metadata quorum): clients on 127.0.0.1:19091-19093, the quorum on
# 127.0.0.1:19191-19193, data and logs under ${CLUSTER_DIR:-./cluster}.
# Ctrl-C stops all three (cleanly).
#
#   scripts/cluster.sh            # builds the release binary if needed, then runs
#   kcat -b 127.0.0.1:19091 -L    # three brokers, one of them the controller
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=${CLUSTER_DIR:-./cluster}
bin=${BIN:-target/release/aeon}
[ -x "$bin" ] || cargo build --release --bin aeon
mkdir -p "$dir"
voters="1@127.0.0.1:19191,2@127.0.0.1:19192,3@127.0.0.1:19193"
pids=()
for i in 1 2 3; do
    cat > "$dir/node$i.toml" <<TOML
node.id = $i
process.roles = "broker,controller"
listeners = "PLAINTEXT://127.0.0.1:1909$i,CONTROLLER://127.0.0.1:1919$i"
controller.listener.names = "CONTROLLER"
controller.quorum.voters = "$voters"
log.dirs = "$dir/data$i"
metrics.listener = "127.0.0.1:1964$i"
TOML
    "$bin" --config "$dir/node$i.toml" 2> "$dir/node$i.log" &
    pids+=($!)
done
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait' INT TERM EXIT
echo "aeon cluster: brokers 127.0.0.1:19091,127.0.0.1:19092,127.0.0.1:19093 (logs in $dir/node*.log)"
wait
