#!/usr/bin/env bash
# Client-compatibility check: kcat 1.7.1 (librdkafka 2.0.2, Debian 12's) against an Aeon broker.
#
#   bash tests/clients/kcat_client.sh <bootstrap host:port>
#
# Prints `ok <check>` or `FAIL <check>: <reason>` per check, then `N passed, M failed`;
# exits 0 iff nothing failed. Each check runs in its own subshell under a time limit, makes
# its own topics and groups (names unique to this script and run), and fails on its own.
# librdkafka 2.0.2 speaks older protocol versions than current clients (e.g. ListOffsets
# v1-v5, Produce v7, Fetch v11), which is the point of this client.
set -uo pipefail

B=${1:?usage: kcat_client.sh <bootstrap host:port>}
RUN=$$-$(date +%s)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export B RUN TMP

# ---- helpers, used inside the checks (which run with set -e) ----------------------------

fail() { echo "$*" >&2; exit 1; }

# kcat against the broker under a time limit (-k: kcat blocked in a syscall ignores TERM);
# on failure, dies with kcat's exit status and its last error line.
kc() {
    local err rc=0
    err=$(mktemp -p "$TMP")
    timeout -k 2 20 kcat -b "$B" -m 5 "$@" 2>"$err" || rc=$?
    if [ "$rc" -ne 0 ]; then
        fail "kcat $* exited $rc$([ "$rc" -ge 124 ] && echo ' (timed out)'):" \
            "$(grep -E '^%|ERROR|FATAL' "$err" | tail -n 1)"
    fi
}

# expect_eq <what> <actual> <expected>: multi-line values are shown joined with ' / '.
expect_eq() {
    [ "$2" = "$3" ] || fail "$1: expected [${3//$'\n'/ / }], got [${2//$'\n'/ / }]"
}

# query <topic> <partition> <timestamp or -1/-2>: the offset kcat -Q answers.
query() {
    local out
    out=$(kc -Q -t "$1:$2:$3")
    [[ $out =~ ^"$1 [$2] offset "(-?[0-9]+)$ ]] || fail "kcat -Q $1:$2:$3 answered: $out"
    echo "${BASH_REMATCH[1]}"
}

# ---- the checks ---------------------------------------------------------------------------

check_metadata() {
    local t=kcat-meta-$RUN out
    echo hello | kc -P -t "$t" # auto-creates the topic (auto.create.topics.enable)
    out=$(kc -L)
    grep -qx ' 1 brokers:' <<<"$out" || fail "not exactly 1 broker: $(paste -sd' ' <<<"$out")"
    grep -qE "^  broker 1 at [^ ]+:${B##*:}( \(controller\))?$" <<<"$out" ||
        fail "broker 1 at port ${B##*:} not listed: $(paste -sd' ' <<<"$out")"
    grep -qxF "  topic \"$t\" with 1 partitions:" <<<"$out" || fail "topic $t not listed"
    out=$(kc -L -t "$t")
    grep -qxF '    partition 0, leader 1, replicas: 1, isrs: 1' <<<"$out" ||
        fail "partition 0 of $t: $(paste -sd' ' <<<"$out")"
}

# Produce keyed messages with headers, compressed with one codec, in one batch (kcat reads
# all of a small stdin before producing), then read back exactly that.
check_codec() {
    local codec=$1 t=kcat-codec-$1-$RUN input='' want='' i got
    for i in 0 1 2 3 4 5 6 7; do
        local value="value-$i-$codec-$(printf 'abcdefgh%.0s' {1..16})" # compressible
        input+="key-$i:$value"$'\n'
        want+="0|$i|key-$i|$value|codec=$codec,twice=1,twice=2"$'\n'
    done
    printf '%s' "$input" |
        kc -P -t "$t" -K : -z "$codec" -H "codec=$codec" -H twice=1 -H twice=2 -X linger.ms=100
    got=$(kc -C -t "$t" -o beginning -e -f '%p|%o|%k|%s|%h\n')
    expect_eq "consumed [partition|offset|key|value|headers]" "$got" "${want%$'\n'}"
}

make_ten() { seq 0 9 | sed 's/^/m/' | kc -P -t "$1"; }

check_absolute_offset() {
    local t=kcat-abs-$RUN
    make_ten "$t"
    expect_eq "-o 4" "$(kc -C -t "$t" -o 4 -e -f '%o:%s\n')" "$(seq 4 9 | sed 's/.*/&:m&/')"
}

# Relative and logical start offsets need ListOffsets (latest).
check_relative_offset() {
    local t=kcat-rel-$RUN
    make_ten "$t"
    expect_eq "-o -3" "$(kc -C -t "$t" -o -3 -e -f '%o:%s\n')" "$(seq 7 9 | sed 's/.*/&:m&/')"
}

check_end_offset() {
    local t=kcat-end-$RUN
    make_ten "$t"
    expect_eq "-o end" "$(kc -C -t "$t" -o end -e -f '%o:%s\n')" ""
}

# A group member reads 4 records and exits (closing commits what it consumed); the next
# run of the same group must start at offset 4.
check_group() {
    local t=kcat-group-$RUN g=kcat-group-$RUN
    make_ten "$t"
    local group=(-G "$g" -X auto.offset.reset=earliest -f '%o\n')
    expect_eq "first run" "$(kc "${group[@]}" -c 4 "$t")" "$(seq 0 3)"
    expect_eq "second run" "$(kc "${group[@]}" -e "$t")" "$(seq 4 9)"
}

# kcat cannot set record timestamps, so they come from the clock:
# - three separate produce runs a second apart: three batches of one record each;
# - then one batch of ten records fed slowly, so that their timestamps differ. kcat produces
#   a line as soon as it has read it only when the line is longer than its 1024-byte read
#   (shorter lines wait for EOF and share one timestamp), hence the padding; linger.ms keeps
#   the ten in one batch, which librdkafka's debug log confirms.
check_timestamps() {
    local t=kcat-ts-$RUN i pad ts
    for i in 0 1 2; do
        [ "$i" -eq 0 ] || sleep 1
        echo "single-$i" | kc -P -t "$t"
    done
    pad=$(printf 'x%.0s' {1..1100})
    for i in $(seq 0 9); do echo "batch-$i-$pad"; sleep 0.03; done |
        timeout -k 2 20 kcat -b "$B" -P -t "$t" -X linger.ms=2000 -d msg 2>"$TMP/batch.log" ||
        fail "producing the batch failed: $(grep -E 'ERROR|FAIL' "$TMP/batch.log" | tail -n 1)"
    grep -q 'Produce MessageSet with 10 message(s)' "$TMP/batch.log" ||
        fail "the ten records did not go out as one batch: $(grep -o 'MessageSet with [0-9]* message(s)' "$TMP/batch.log" | paste -sd,)"
    ts=$(kc -C -t "$t" -o beginning -e -f '%T\n')
    mapfile -t ts <<<"$ts"
    [ "${#ts[@]}" -eq 13 ] || fail "expected 13 records, read ${#ts[@]}"
    for i in $(seq 4 12); do
        [ "${ts[i]}" -gt "${ts[i - 1]}" ] || fail "timestamps of offsets $((i - 1)),$i not increasing: ${ts[*]}"
    done
    # Between batches: the first record at or after the target.
    expect_eq "offset for ts(0)+1" "$(query "$t" 0 $((ts[0] + 1)))" 1
    expect_eq "offset for ts(2)" "$(query "$t" 0 "${ts[2]}")" 2
    # Inside the batch (offsets 3..12): per record, not per batch.
    expect_eq "offset for ts(8)" "$(query "$t" 0 "${ts[8]}")" 8
    expect_eq "offset for ts(5)+1" "$(query "$t" 0 $((ts[5] + 1)))" 6
    expect_eq "offset for ts(3)" "$(query "$t" 0 "${ts[3]}")" 3
    expect_eq "offset past the last record" "$(query "$t" 0 $((ts[12] + 1)))" -1
}

check_query_logical() {
    local t=kcat-logical-$RUN
    make_ten "$t"
    expect_eq "-Q -1 (end)" "$(query "$t" 0 -1)" 10
    expect_eq "-Q -2 (beginning)" "$(query "$t" 0 -2)" 0
}

# ---- runner ---------------------------------------------------------------------------------

export -f fail kc expect_eq query make_ten $(compgen -A function check_)
passed=0
failed=0
run_check() { # run_check <name> <command...>
    local name=$1 rc=0 reason
    shift
    timeout -k 5 60 bash -c 'set -euo pipefail; "$@"' _ "$@" >/dev/null 2>"$TMP/check.err" || rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "ok $name"
        passed=$((passed + 1))
    else
        reason=$(grep -v '^$' "$TMP/check.err" | tail -n 1)
        [ "$rc" -ge 124 ] && reason="timed out after 60 s${reason:+; last: $reason}"
        echo "FAIL $name: ${reason:-exit status $rc}"
        failed=$((failed + 1))
    fi
}

if ! command -v kcat >/dev/null; then
    echo "FAIL kcat: not on PATH (run tests/clients/install.sh)"
    failed=1
else
    run_check metadata check_metadata
    for codec in none gzip snappy lz4 zstd; do
        run_check "produce-consume-$codec" check_codec "$codec"
    done
    run_check consume-absolute-offset check_absolute_offset
    run_check consume-relative-offset check_relative_offset
    run_check consume-from-end check_end_offset
    run_check consumer-group-commit check_group
    run_check offsets-by-timestamp check_timestamps
    run_check offsets-logical check_query_logical
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
