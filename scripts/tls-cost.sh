#!/usr/bin/env bash
# The cost of TLS: 1 KiB produce and consume throughput, and broker CPU per GB, over
# PLAINTEXT, SSL and SASL_SSL (SCRAM-SHA-512) listeners of one broker, in one sitting.
# Each round starts a fresh broker and runs the three in a rotating order (so a drift
# of the machine weighs on all alike); prints the medians and their ratios to
# PLAINTEXT.
#   RUNS=5 MESSAGES=300000 scripts/tls-cost.sh
# Needs: cargo (release build), openssl, python3. Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
MESSAGES=${MESSAGES:-300000}
OUT=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$OUT"' EXIT

cargo build --release --workspace --quiet
AEON=$PWD/target/release/aeon
BENCH=$PWD/target/release/aeon-bench

# A CA and the broker's certificate, as README's Security section makes them.
(
    cd "$OUT"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=bench CA" \
        -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout broker.key \
        -out broker.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -extfile san.ext -out broker.crt 2>/dev/null
    cat broker.crt broker.key > broker.pem
)

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# round I: a fresh broker with three listeners; produce then consume over each.
round() {
    local i=$1 dir="$OUT/round.$i"
    mkdir -p "$dir"
    "$AEON" storage add-scram --data-dir "$dir/data" \
        'SCRAM-SHA-512=[name=bench,password=bench-secret]' > /dev/null
    local plain tls sasl
    plain=$(free_port); tls=$(free_port); sasl=$(free_port)
    cat > "$dir/aeon.toml" <<TOML
listeners = "PLAIN://127.0.0.1:$plain,TLS://127.0.0.1:$tls,SASLTLS://127.0.0.1:$sasl"
listener.security.protocol.map = "PLAIN:PLAINTEXT,TLS:SSL,SASLTLS:SASL_SSL"
sasl.enabled.mechanisms = "SCRAM-SHA-512"
ssl.keystore.location = "$OUT/broker.pem"
log.dirs = "$dir/data"
metrics.listener = ""
TOML
    RUST_LOG=aeon=info "$AEON" --config "$dir/aeon.toml" 2> "$dir/log" &
    local pid=$!
    for _ in $(seq 100); do
        grep -q "aeon is serving" "$dir/log" && break
        sleep 0.1
    done
    grep -q "aeon is serving" "$dir/log" || { cat "$dir/log" >&2; exit 1; }
    local -a order=(plaintext ssl sasl_ssl)
    local shift=$(( i % 3 ))
    order=("${order[@]:$shift}" "${order[@]:0:$shift}")
    for name in "${order[@]}"; do
        local -a props=()
        local addr
        case $name in
            plaintext) addr=127.0.0.1:$plain ;;
            ssl) addr=127.0.0.1:$tls
                props=(--set security.protocol=SSL --set "ssl.ca.location=$OUT/ca.pem") ;;
            sasl_ssl) addr=127.0.0.1:$sasl
                props=(--set security.protocol=SASL_SSL --set "ssl.ca.location=$OUT/ca.pem"
                    --set sasl.mechanism=SCRAM-SHA-512 --set sasl.username=bench
                    --set sasl.password=bench-secret) ;;
        esac
        "$BENCH" produce --bootstrap "127.0.0.1:$plain" --topic "t-$name" --create-topic \
            --partitions 1 --messages 1 --size 16 --json > /dev/null
        "$BENCH" produce --bootstrap "$addr" --broker-pid "$pid" --topic "t-$name" \
            --messages "$MESSAGES" --size 1024 --acks 1 --linger-ms 5 --json "${props[@]}" \
            > "$OUT/produce.$name.$i.json"
        "$BENCH" consume --bootstrap "$addr" --broker-pid "$pid" --topic "t-$name" \
            --messages "$MESSAGES" --idle-timeout 5 --json "${props[@]}" \
            > "$OUT/consume.$name.$i.json"
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$dir/data"
    echo "done: round $i" >&2
}

for i in $(seq "$RUNS"); do round "$i"; done

python3 - "$OUT" "$RUNS" <<'PY'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
names = ["plaintext", "ssl", "sasl_ssl"]
def load(kind, name):
    rs = [json.load(open(f"{out}/{kind}.{name}.{i}.json")) for i in range(1, runs + 1)]
    return (statistics.median(r["mb_per_sec"] for r in rs),
            statistics.median(r["broker"]["cpu_seconds_per_gb"] for r in rs))
print(f"rounds: {runs}, 1 KiB records, medians")
print("| listener | produce MB/s | broker CPU-s/GB | consume MB/s | broker CPU-s/GB |")
print("|---|---|---|---|---|")
rows = {n: (load("produce", n), load("consume", n)) for n in names}
for n in names:
    (pt, pc), (ct, cc) = rows[n]
    print(f"| {n} | {pt:,.0f} | {pc:.2f} | {ct:,.0f} | {cc:.2f} |")
(bpt, bpc), (bct, bcc) = rows["plaintext"]
for n in names[1:]:
    (pt, pc), (ct, cc) = rows[n]
    print(f"{n}/plaintext: produce {pt / bpt:.2f}x throughput, {pc / bpc:.2f}x CPU per GB; "
          f"consume {ct / bct:.2f}x throughput, {cc / bcc:.2f}x CPU per GB")
PY
