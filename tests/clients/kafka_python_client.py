"""Client-compatibility checks of Aeon with kafka-python 3.x (pure Python).

Usage: .venv/bin/python kafka_python_client.py HOST:PORT

kafka-python 3.x has every API the matrix asks for: a transactional producer with
send_offsets_to_transaction, read_committed consumers, and an admin client with
delete_records, alter_configs (incremental=True/False) and list_partition_offsets,
which takes OffsetSpec.MAX_TIMESTAMP too, so the max-timestamp lookup is checked here
as well. Its consumer's offsets_for_times / beginning_offsets / end_offsets and the
admin's list_partition_offsets build their ListOffsets requests separately.
"""

import functools
import threading
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import (AlterConfigOp, ConfigResource, ConfigResourceType,
                         KafkaAdminClient, OffsetSpec)
from kafka.structs import OffsetAndMetadata

from _matrix import (CODECS, CheckFailed, Matrix, codec_records, compare_per_partition,
                     expect, expect_eq, is_split, wait_until)

m = Matrix("kafka-python")
BOOT = m.bootstrap
T0 = int(time.time() * 1000) - 60_000  # timestamps in the recent past, never in the future
# Bounded timeouts everywhere: kafka-python's defaults (max_block_ms 60 s) exceed a check's.
COMMON = {"bootstrap_servers": BOOT, "request_timeout_ms": 10_000}


@functools.cache
def admin():
    # Created on first use, not at import: it connects at once, and a broker that
    # refuses must fail the checks, not the script.
    return KafkaAdminClient(**COMMON)


def create_topic(what, partitions):
    name = m.name(what)
    admin().create_topics({name: {"num_partitions": partitions, "replication_factor": 1}},
                          wait_for_metadata=True)
    return name


def produce(topic, records, **conf):
    """records: (partition, key, value, headers, timestamp or None), all sent before
    one flush, so that with a long linger_ms they share one batch per partition.
    Returns their offsets."""
    p = KafkaProducer(**{**COMMON, "max_block_ms": 10_000, "linger_ms": 20, **conf})
    try:
        futures = [p.send(topic, value=v, key=k, headers=h, partition=part, timestamp_ms=ts)
                   for part, k, v, h, ts in records]
        p.flush(timeout=15)
        return [f.get(timeout=1).offset for f in futures]
    finally:
        p.close(timeout=5)


def consumer(group=None, **conf):
    c = KafkaConsumer(**COMMON, group_id=group, enable_auto_commit=False,
                      auto_offset_reset="earliest", **conf)
    keep_awake(c)
    return c


def keep_awake(c):
    """kafka-python 3.0's IO thread can miss a wakeup: a task made ready by a future
    resolved on another thread waits until the next socket event or timer, and while
    the group join has paused heartbeats there may be none, so the consumer's poll
    waits forever on an answer the broker already sent (the thread stacks printed on
    a failed check show it). A periodic wakeup bounds that wait; it sends nothing to
    the broker. `_net` is private: the client has no public handle on its loop."""
    net = c._net

    def nudge():
        while not net._closed:
            try:
                net.wakeup()
            except Exception:
                return
            time.sleep(0.05)
    threading.Thread(target=nudge, daemon=True).start()


def drain(c, timeout=15):
    """Polls until every assigned partition's position reaches the high watermark its
    fetches reported. Returns the records in arrival order."""
    out = []
    deadline = time.monotonic() + timeout

    def at_end(tp):
        high = c.highwater(tp)
        return high is not None and c.position(tp, timeout_ms=10_000) >= high
    while not (c.assignment() and all(at_end(tp) for tp in c.assignment())):
        if time.monotonic() >= deadline:
            where = {f"{tp.topic}/{tp.partition}": (c.highwater(tp), c.position(tp, timeout_ms=1000))
                     for tp in c.assignment()}
            expect(False, f"did not reach the end of the partitions: assigned (high "
                          f"watermark, position) {where}, {len(out)} records read")
        out += [r for rs in c.poll(timeout_ms=200).values() for r in rs]
    return out


def read_all(topic, partitions, start=0, **conf):
    """Reads every partition from offset `start` (None: seek_to_beginning) to its end.
    The checks' topics are new, so 0 is their beginning: asking for it by number keeps
    these reads independent of ListOffsets, which has checks of its own."""
    c = consumer(**conf)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        c.assign(tps)
        if start is None:
            c.seek_to_beginning()
        else:
            for tp in tps:
                c.seek(tp, start)
        return drain(c)
    finally:
        c.close(autocommit=False)


def list_offset(topic, spec):
    tp = TopicPartition(topic, 0)
    return admin().list_partition_offsets({tp: spec}, timeout_ms=10_000)[tp]


def check_metadata():
    cluster = admin().describe_cluster()
    expect_eq([b["broker_id"] for b in cluster["brokers"]], [1], "brokers in DescribeCluster")
    expect(cluster["cluster_id"], "no cluster id")
    c = consumer()
    try:
        # Metadata, not DescribeCluster, is what consumers route by; kafka-python has
        # no public accessor for the brokers it lists, hence the private _client.
        c.topics()
        expect_eq([b.node_id for b in c._client.cluster.brokers()], [1], "brokers in Metadata")
    finally:
        c.close()


def check_create_topic():
    name = create_topic("created", 3)
    [topic] = admin().describe_topics([name])
    expect_eq(topic["error_code"], 0, "metadata error code")
    expect_eq(sorted(p["partition_index"] for p in topic["partitions"]), [0, 1, 2],
              "partitions of the created topic")
    expect_eq({p["leader_id"] for p in topic["partitions"]}, {1}, "partition leaders")


def check_codec(codec):
    topic = create_topic(f"codec-{codec}", 3)
    sent = codec_records(codec)
    produce(topic, [r + (None,) for r in sent],
            compression_type=None if codec == "none" else codec)
    got = read_all(topic, 3)
    compare_per_partition(sent, [(r.partition, r.offset, r.key, r.value, r.headers)
                                 for r in got], 3)


def ten_records(topic, tag):
    return produce(topic, [(0, f"k{i}".encode(), f"{tag}-{i}".encode(), None, None)
                           for i in range(10)])


def check_consume_earliest():
    # A new group without committed offsets must start at the log start.
    topic = create_topic("earliest", 1)
    offsets = ten_records(topic, "earliest")
    c = consumer(m.name("earliest-group"))
    try:
        c.subscribe([topic])
        got = drain(c, timeout=20)
    finally:
        c.close(autocommit=False)
    expect_eq([r.offset for r in got], offsets, "offsets consumed")
    expect_eq([r.value for r in got], [f"earliest-{i}".encode() for i in range(10)],
              "values consumed")


def assigned(c, timeout=20):
    """Polls until the consumer has joined its group and holds partitions."""
    def poll():
        c.poll(timeout_ms=200)
        return c.assignment()
    return wait_until(poll, timeout, "an assignment")


def first_record(c, timeout=20):
    def poll():
        batches = list(c.poll(timeout_ms=200, max_records=1).values())
        return batches[0][0] if batches else None
    return wait_until(poll, timeout, "a record")


def check_commit_resume():
    topic = create_topic("resume", 1)
    offsets = ten_records(topic, "resume")
    k, tp = offsets[4], TopicPartition(topic, 0)
    group = m.name("resume-group")
    first = consumer(group)
    try:
        first.subscribe([topic])
        assigned(first)  # joined is enough to commit; reading would need ListOffsets
        first.commit({tp: OffsetAndMetadata(k, "", -1)})
    finally:
        first.close(autocommit=False)
    second = consumer(group)
    try:
        second.subscribe([topic])
        expect_eq(first_record(second).offset, k, "first offset after resuming")
        expect_eq(second.committed(tp, timeout_ms=10_000), k, "committed offset")
    finally:
        second.close(autocommit=False)


def timed_batch(topic, deltas):
    """Records with timestamps T0+delta, sent together so they share one batch."""
    return produce(topic, [(0, b"t", f"ts-{d}".encode(), None, T0 + d) for d in deltas],
                   linger_ms=1000)


def check_offsets_for_times():
    topic = create_topic("times", 1)
    offsets = timed_batch(topic, range(0, 10_000, 1000))
    base = offsets[0]
    expect_eq(offsets, list(range(base, base + 10)), "offsets of the batch")
    c, tp = consumer(), TopicPartition(topic, 0)
    try:
        found = c.offsets_for_times({tp: T0 + 5500}, timeout_ms=10_000)[tp]
        expect(found is not None, "no offset for T0+5500")
        expect_eq((found.offset, found.timestamp), (base + 6, T0 + 6000),
                  "(offset, timestamp) for T0+5500")
        past = c.offsets_for_times({tp: T0 + 20_000}, timeout_ms=10_000)[tp]
        expect_eq(past, None, "answer for a timestamp past the newest")
    finally:
        c.close()


def check_list_offsets_timestamp():
    topic = create_topic("times-admin", 1)
    base = timed_batch(topic, range(0, 10_000, 1000))[0]
    found = list_offset(topic, T0 + 5500)
    expect_eq((found.offset, found.timestamp), (base + 6, T0 + 6000),
              "(offset, timestamp) for T0+5500")
    expect_eq(list_offset(topic, T0 + 20_000).offset, -1,
              "offset for a timestamp past the newest")


def check_beginning_end_offsets():
    topic = create_topic("begin-end", 1)
    offsets = ten_records(topic, "be")
    c, tp = consumer(), TopicPartition(topic, 0)
    try:
        expect_eq(c.beginning_offsets([tp], timeout_ms=10_000)[tp], offsets[0], "beginning")
        expect_eq(c.end_offsets([tp], timeout_ms=10_000)[tp], offsets[-1] + 1, "end")
    finally:
        c.close()


def check_list_offsets_earliest_latest():
    topic = create_topic("list-offsets", 1)
    offsets = ten_records(topic, "lo")
    expect_eq(list_offset(topic, OffsetSpec.EARLIEST).offset, offsets[0], "earliest")
    expect_eq(list_offset(topic, OffsetSpec.LATEST).offset, offsets[-1] + 1, "latest")


def check_list_offsets_max_timestamp():
    topic = create_topic("max-ts", 1)
    base = timed_batch(topic, [1000, 9000, 2000])[0]
    found = list_offset(topic, OffsetSpec.MAX_TIMESTAMP)
    expect_eq((found.offset, found.timestamp), (base + 1, T0 + 9000),
              "(offset, timestamp) of the max timestamp")


def check_group_split():
    # Each member polls in its own thread: a member blocked in a rebalance must not
    # keep the other from answering it.
    topic = create_topic("split", 4)
    group, stop = m.name("split-group"), threading.Event()
    members = [consumer(group, heartbeat_interval_ms=500, session_timeout_ms=10000)
               for _ in range(2)]
    got = [[], []]

    def run(i):
        members[i].subscribe([topic])
        while not stop.is_set():
            for rs in members[i].poll(timeout_ms=200).values():
                got[i] += [r.partition for r in rs]

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(2)]
    try:
        for t in threads:
            t.start()

        seen = []

        def settled():
            parts = [{tp.partition for tp in c.assignment()} for c in members]
            seen[:] = [parts]
            return parts if is_split(parts, 4) else None
        try:
            parts = wait_until(settled, 40, "both members to share the 4 partitions")
        except CheckFailed as e:
            # What each member and the coordinator last said, for the diagnosis.
            try:
                group_state = admin().describe_groups([group])
            except Exception as d:  # noqa: BLE001 - a diagnostic must not hide the failure
                group_state = f"(describe failed: {d!r})"
            raise CheckFailed(f"{e}; members' assignments {seen}; the group: {group_state}") from e
        produce(topic, [(p, None, f"split-{p}-{i}".encode(), None, None)
                        for p in range(4) for i in range(3)])
        wait_until(lambda: len(got[0]) + len(got[1]) >= 12, 15, "12 records across members")
        for i in range(2):
            expect(got[i], f"member {i} consumed nothing")
            expect(set(got[i]) <= parts[i],
                   f"member {i} read partitions {set(got[i])}, assigned {parts[i]}")
    finally:
        stop.set()
        for t in threads:
            t.join(5)
        for c in members:
            c.close(autocommit=False)


def topic_configs(topic):
    res = ConfigResource(ConfigResourceType.TOPIC, topic)
    return admin().describe_configs([res], config_filter="all")["topic"][topic]


def alter(topic, configs, incremental):
    res = ConfigResource(ConfigResourceType.TOPIC, topic, configs)
    result = admin().alter_configs([res], incremental=incremental)
    expect_eq(result, {"topic": {topic: "OK"}}, "alter_configs result")


def check_describe_configs():
    entry = topic_configs(create_topic("describe", 1)).get("retention.ms")
    expect(entry is not None, "no retention.ms in DescribeConfigs")
    expect_eq(entry["value"], "604800000", "default retention.ms (168 h)")


def check_alter_configs():
    topic = create_topic("alter", 1)
    alter(topic, {"retention.ms": "7200000"}, incremental=False)
    entry = topic_configs(topic)["retention.ms"]
    expect_eq((entry["value"], entry["config_source"]), ("7200000", "DYNAMIC_TOPIC_CONFIG"),
              "retention.ms after alter")


def check_incremental_alter_configs():
    topic = create_topic("incremental", 1)
    alter(topic, {"retention.ms": "3600000", "cleanup.policy": "compact"}, incremental=True)
    configs = topic_configs(topic)
    expect_eq(configs["retention.ms"]["value"], "3600000", "retention.ms after the change")
    expect_eq(configs["cleanup.policy"]["value"], "compact", "cleanup.policy after the change")
    # A second incremental change must leave the first one's other key alone.
    alter(topic, {"retention.ms": (AlterConfigOp.DELETE, None)}, incremental=True)
    configs = topic_configs(topic)
    expect_eq(configs["retention.ms"]["value"], "604800000", "retention.ms after DELETE")
    expect_eq(configs["cleanup.policy"]["value"], "compact", "cleanup.policy after DELETE")


def check_delete_records():
    topic = create_topic("delete-records", 1)
    offsets = ten_records(topic, "dr")
    k, tp = offsets[4], TopicPartition(topic, 0)
    result = admin().delete_records({tp: k}, timeout_ms=10_000)[tp]
    expect_eq(result["low_watermark"], k, "low watermark returned by DeleteRecords")
    expect_eq(list_offset(topic, OffsetSpec.EARLIEST).offset, k, "earliest offset")
    c = consumer()
    try:
        expect_eq(c.beginning_offsets([tp], timeout_ms=10_000)[tp], k, "beginning offset")
    finally:
        c.close()
    expect_eq([r.offset for r in read_all(topic, 1, None)], offsets[4:],
              "offsets read from the beginning")


def txn_producer(what):
    p = KafkaProducer(**COMMON, max_block_ms=15_000, transactional_id=m.name(what))
    p.init_transactions()
    return p


def check_transactions():
    topic = create_topic("txn", 1)
    p = txn_producer("txn")
    try:
        for tag, commit in [("committed", True), ("aborted", False), ("after", True)]:
            p.begin_transaction()
            for i in range(3):
                p.send(topic, f"{tag}-{i}".encode(), partition=0)
            # Flush first, so that the aborted records reach the log and must be filtered.
            p.flush(timeout=10)
            if commit:
                p.commit_transaction()
            else:
                p.abort_transaction()
    finally:
        p.close(timeout=5)
    committed = [r.value.decode() for r in
                 read_all(topic, 1, isolation_level="read_committed")]
    expect_eq(committed, [f"{t}-{i}" for t in ("committed", "after") for i in range(3)],
              "read_committed values")
    everything = read_all(topic, 1, isolation_level="read_uncommitted")
    expect_eq(len(everything), 9, "read_uncommitted record count")


def check_send_offsets_to_transaction():
    src, dst = create_topic("txn-in", 1), create_topic("txn-out", 1)
    ten_records(src, "in")
    tp = TopicPartition(src, 0)
    c = consumer(m.name("txn-group"), isolation_level="read_committed")
    p = txn_producer("txn-offsets")
    try:
        c.subscribe([src])
        got = drain(c, timeout=20)
        expect_eq(len(got), 10, "records read from the input")
        p.begin_transaction()
        for r in got:
            p.send(dst, r.value.upper(), partition=0)
        next_offset = got[-1].offset + 1
        p.send_offsets_to_transaction({tp: OffsetAndMetadata(next_offset, "", -1)},
                                      c.group_metadata())
        p.commit_transaction()
        # An aborted transaction's offsets must not become the group's.
        p.begin_transaction()
        p.send_offsets_to_transaction({tp: OffsetAndMetadata(3, "", -1)}, c.group_metadata())
        p.abort_transaction()
        expect_eq(c.committed(tp, timeout_ms=10_000), next_offset,
                  "group offset after the commit")
    finally:
        c.close(autocommit=False)
        p.close(timeout=5)
    out = read_all(dst, 1, isolation_level="read_committed")
    expect_eq(len(out), 10, "records in the output topic")


m.check("metadata", check_metadata)
m.check("create-topic", check_create_topic)
for codec in CODECS:
    m.check(f"produce-consume-{codec}", lambda codec=codec: check_codec(codec))
m.check("consume-earliest", check_consume_earliest)
m.check("commit-resume", check_commit_resume, timeout=40)
m.check("offsets-for-times", check_offsets_for_times)
m.check("list-offsets-timestamp", check_list_offsets_timestamp)
m.check("beginning-end-offsets", check_beginning_end_offsets)
m.check("list-offsets-earliest-latest", check_list_offsets_earliest_latest)
m.check("list-offsets-max-timestamp", check_list_offsets_max_timestamp)
m.check("group-split", check_group_split, timeout=60)
m.check("describe-configs", check_describe_configs)
m.check("alter-configs", check_alter_configs)
m.check("incremental-alter-configs", check_incremental_alter_configs)
m.check("delete-records", check_delete_records)
m.check("transactions", check_transactions, timeout=40)
m.check("send-offsets-to-transaction", check_send_offsets_to_transaction, timeout=40)
m.finish()
