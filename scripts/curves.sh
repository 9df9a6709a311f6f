#!/usr/bin/env bash
# Reproduces the growth curves of BENCHMARKS.md: starts release brokers of its own (one
# per point, fresh data directories under $DIR), measures how cost grows with
# partitions, clients, consumer groups and data at rest, writes docs/curves/curves.json
# and draws docs/curves/*.svg, printing the Markdown tables.
#   scripts/curves.sh                         # every curve (about half an hour)
#   ONLY=partitions,groups scripts/curves.sh  # some curves
#   EXTRA="--partitions 1,10,100" scripts/curves.sh
# Needs: cargo (release build). Traffic stays on 127.0.0.1; the data-at-rest curve makes
# sparse logs of up to 100 GB (about 400 MB on disk).
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${DIR:-/tmp/aeon-curves}
OUT=docs/curves
mkdir -p "$OUT"
cargo build --release --workspace --quiet
args=(--aeon target/release/aeon --dir "$DIR" --out "$OUT/curves.json")
if [ -n "${ONLY:-}" ]; then args+=(--only "$ONLY"); fi
# shellcheck disable=SC2206
args+=(${EXTRA:-})
target/release/aeon-bench curves "${args[@]}"
target/release/aeon-bench plot --input "$OUT/curves.json" --out-dir "$OUT" --link-prefix docs/curves
rm -rf "$DIR"
