"""Bookkeeping shared by the Python scripts of the client-compatibility matrix.

Contract with the Rust harness: one line per check on stdout, `ok NAME` or
`FAIL NAME: REASON`, then `N passed, M failed`; exit status 0 iff nothing failed.
Tracebacks go to stderr.

Each check runs in a daemon thread with a deadline: a client that hangs on a broken
broker (waiting for a response that never comes, retrying a closed connection) must
cost only its own check, and the script as a whole must still end.
"""

import faulthandler
import os
import sys
import threading
import time
import traceback
import uuid

# The whole script gives up running further checks after this many seconds; against a
# working broker every script finishes well inside it.
TOTAL_BUDGET_S = 150.0


class Matrix:
    def __init__(self, client):
        if len(sys.argv) != 2:
            sys.exit(f"usage: {sys.argv[0]} HOST:PORT")
        self.bootstrap = sys.argv[1]
        self.client = client
        # A run suffix keeps names apart when a script is rerun against the same broker.
        self._run = uuid.uuid4().hex[:6]
        self._start = time.monotonic()
        self.passed = 0
        self.failed = 0

    def name(self, what):
        """A topic, group or transactional id unique to this client and run."""
        return f"{self.client}-{what}-{self._run}"

    def check(self, name, fn, timeout=25.0):
        remaining = TOTAL_BUDGET_S - (time.monotonic() - self._start)
        if remaining <= 1:
            return self._report(name, "not run: the script's time budget is spent")
        timeout = min(timeout, remaining)
        outcome = {}

        def body():
            try:
                fn()
                outcome["ok"] = True
            except BaseException as e:  # noqa: BLE001 - any failure is the check's
                outcome["error"] = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                print(f"--- {name} ---\n{traceback.format_exc()}", file=sys.stderr, flush=True)

        worker = threading.Thread(target=body, name=name, daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            self._report(name, f"timed out after {timeout:.0f} s")
        else:
            self._report(name, outcome.get("error"))

    def _report(self, name, error):
        if error is None:
            self.passed += 1
            print(f"ok {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}: {' '.join(str(error).split())}", flush=True)

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        sys.stderr.flush()
        # os._exit: a timed-out check may have left client threads that would keep
        # the interpreter alive (or hang in a close() at exit).
        os._exit(0 if self.failed == 0 else 1)


class CheckFailed(AssertionError):
    pass


def dump_threads():
    """Every thread's stack on stderr: where a client stands when a check gives up
    (a client's own deadlock looks, from the check, like a broker that never answers)."""
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)


def expect(cond, message):
    if not cond:
        dump_threads()
        raise CheckFailed(message)


def expect_eq(actual, expected, what):
    if actual != expected:
        raise CheckFailed(f"{what}: expected {expected!r}, got {actual!r}")


def wait_until(predicate, timeout, what, step=0.2):
    """Polls until predicate() is truthy; fails the check with `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            dump_threads()
            raise CheckFailed(f"timed out waiting for {what}")
        time.sleep(step)


def is_split(parts, partitions):
    """Two members' assignments: both non-empty, disjoint, together every partition."""
    a, b = parts
    return bool(a) and bool(b) and not (a & b) and (a | b) == set(range(partitions))


CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def codec_records(codec, count=30, partitions=3):
    """The records of one compression check: (partition, key, value, headers).

    Values repeat themselves so that every codec really compresses; headers carry a
    duplicate key and an empty value, which a broker that rewrites batches could lose.
    """
    out = []
    for i in range(count):
        key = f"{codec}-key-{i % 7}".encode()
        value = (f"{codec} record {i} " * 20).encode()
        headers = [("codec", codec.encode()), ("seq", str(i).encode()),
                   ("seq", b"dup"), ("empty", b"")]
        out.append((i % partitions, key, value, headers))
    return out


def compare_per_partition(sent, received, partitions):
    """Each partition must hold exactly what was sent to it, in the order sent.

    sent: (partition, key, value, headers) in send order;
    received: (partition, offset, key, value, headers) in any order.
    """
    for p in range(partitions):
        want = [(k, v, h) for (pp, k, v, h) in sent if pp == p]
        got_rows = sorted((r for r in received if r[0] == p), key=lambda r: r[1])
        offsets = [r[1] for r in got_rows]
        expect(offsets == sorted(set(offsets)), f"partition {p}: duplicate offsets {offsets}")
        got = [(k, v, h) for (_, _, k, v, h) in got_rows]
        expect_eq(len(got), len(want), f"partition {p} record count")
        for i, (g, w) in enumerate(zip(got, want)):
            expect_eq(g, w, f"partition {p} record {i} (key, value, headers)")
