#!/usr/bin/env bash
# The fault checker on demand: three aeon processes, a topic with three replicas and
# min.insync.replicas=2, an idempotent acks=all producer throughout, and a seeded
# random schedule of faults (kill -9 a leader, kill -9 a follower, each restarted;
# SIGSTOP a broker past its session, then resume it; cut a broker off from the others
# past its session, then heal; cut the clients off a leader, then heal), with a
# transactional consume-transform-produce running throughout. It fails unless every
# acknowledged record is read back exactly once, in order, and every replica holds the
# same bytes; read_committed never shows an aborted record, the transform's committed
# offsets are never ahead of the data and every input below them was written exactly
# once; and no two brokers led one partition at one leader epoch. It prints the figures
# (records, losses, duplicates, leader elections and their median time, the transform's
# transactions). CI runs the same test with 6 cycles.
#
# The transform runs unless --no-transform is given.
#
#   scripts/chaos.sh --cycles 200 --seed 7 [--release] [--no-transform]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cycles=20
seed=$(date +%s)
profile=()
transform=1
while [ $# -gt 0 ]; do
    case "$1" in
        --cycles) cycles=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --release) profile=(--release); shift ;;
        --no-transform) transform=0; shift ;;
        *) echo "usage: $0 [--cycles N] [--seed S] [--release] [--no-transform]" >&2; exit 2 ;;
    esac
done
echo "chaos: $cycles cycles, seed $seed"
CHAOS_CYCLES=$cycles CHAOS_SEED=$seed CHAOS_TRANSFORM=$transform exec cargo test "${profile[@]}" --test chaos_test -- --nocapture
