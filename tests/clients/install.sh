#!/usr/bin/env bash
# Installs the clients of the compatibility matrix into tests/clients. Idempotent:
# rerunning it only installs what is missing. One section per client family.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# ---- python: confluent-kafka, kafka-python, aiokafka in tests/clients/.venv ----
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    --only-binary=:all: -r requirements.txt

# ---- node: kafkajs 2.2.4 + kafkajs-snappy (pure JS) in tests/clients/node_modules ----
# npm ci installs exactly package-lock.json; rerun only when the lock is newer than the
# install (npm writes node_modules/.package-lock.json on every install).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi

# ---- kcat: Debian's package (kcat 1.7.1 on librdkafka 2.0.2 in Debian 12) ----
if ! command -v kcat >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat
fi
