"""Client-compatibility checks of Aeon with confluent-kafka (librdkafka).

Usage: .venv/bin/python confluent_kafka_client.py HOST:PORT

confluent-kafka has every API the matrix asks for, so nothing is left out. It is the
one Python client with OffsetSpec.max_timestamp() in AdminClient.list_offsets, and its
consumer (offsets_for_times, get_watermark_offsets) and admin client (list_offsets)
reach ListOffsets through different librdkafka code paths, so both are checked.
"""

import time
import warnings

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, KafkaException,
                             Producer, TopicPartition)
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry,
                                   ConfigResource, ConfigSource, NewTopic, OffsetSpec,
                                   ResourceType)

from _matrix import (CODECS, Matrix, codec_records, compare_per_partition, expect,
                     expect_eq, is_split, wait_until)

m = Matrix("confluent")
BOOT = m.bootstrap
T0 = int(time.time() * 1000) - 60_000  # timestamps in the recent past, never in the future
admin = AdminClient({"bootstrap.servers": BOOT})


def create_topic(what, partitions):
    name = m.name(what)
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=15)
    return name


def producer(**conf):
    return Producer({"bootstrap.servers": BOOT, "linger.ms": 20, **conf})


def produce(topic, records, **conf):
    """records: (partition, key, value, headers, timestamp or None), all sent before
    one flush, so that with a long linger.ms they share one batch per partition.
    Returns their offsets."""
    p = producer(**conf)
    reports = [None] * len(records)  # in send order; callbacks may come in another
    for i, (part, key, value, headers, ts) in enumerate(records):
        def report(err, msg, i=i):
            reports[i] = (err, msg)
        # timestamp 0: librdkafka stamps the current time.
        p.produce(topic, value, key, partition=part, headers=headers, timestamp=ts or 0,
                  on_delivery=report)
    expect_eq(p.flush(15), 0, "messages still queued after flush")
    errors = [str(err) for err, _ in reports if err is not None]
    expect(not errors, f"delivery failed: {errors}")
    return [msg.offset() for _, msg in reports]


def consumer(group=None, **conf):
    return Consumer({"bootstrap.servers": BOOT, "group.id": group or m.name("reader"),
                     "enable.auto.commit": False, "auto.offset.reset": "earliest",
                     "enable.partition.eof": True, **conf})


def drain(c, partitions, timeout=15):
    """Polls until every partition has reported EOF past its last message."""
    out, at_eof = [], set()
    deadline = time.monotonic() + timeout
    while at_eof != set(partitions):
        expect(time.monotonic() < deadline, f"no EOF on all partitions; have {at_eof}")
        msg = c.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                at_eof.add(msg.partition())
                continue
            raise KafkaException(msg.error())
        at_eof.discard(msg.partition())
        out.append(msg)
    return out


def next_record(c, timeout=20):
    def record():
        msg = c.poll(0.5)
        return msg if msg is not None and not msg.error() else None
    return wait_until(record, timeout, "a record")


def assigned(c, timeout=20):
    """Polls until the consumer has joined its group and holds partitions."""
    def poll():
        c.poll(0.2)
        return c.assignment()
    return wait_until(poll, timeout, "an assignment")


def read_all(topic, partitions, start=0, **conf):
    """Reads every partition from offset `start` to its end. The checks' topics are
    new, so 0 is their beginning: asking for it by number, not as OFFSET_BEGINNING,
    keeps these reads independent of ListOffsets, which has checks of its own."""
    c = consumer(**conf)
    try:
        c.assign([TopicPartition(topic, p, start) for p in range(partitions)])
        return drain(c, range(partitions))
    finally:
        c.close()


def list_offset(topic, spec, partition=0):
    tp = TopicPartition(topic, partition)
    return admin.list_offsets({tp: spec}, request_timeout=10)[tp].result(timeout=15)


def watermarks(topic, partition=0):
    c = consumer()
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10,
                                       cached=False)
    finally:
        c.close()


def check_metadata():
    md = admin.list_topics(timeout=10)
    expect_eq(sorted(md.brokers), [1], "broker ids in Metadata")
    cluster = admin.describe_cluster(request_timeout=10).result(timeout=15)
    expect_eq([n.id for n in cluster.nodes], [1], "nodes in DescribeCluster")
    expect(cluster.cluster_id, "DescribeCluster gave no cluster id")


def check_create_topic():
    name = create_topic("created", 3)
    topic = admin.list_topics(name, timeout=10).topics[name]
    expect(topic.error is None, f"metadata error {topic.error}")
    expect_eq(sorted(topic.partitions), [0, 1, 2], "partitions of the created topic")
    expect_eq({p.leader for p in topic.partitions.values()}, {1}, "partition leaders")


def check_codec(codec):
    topic = create_topic(f"codec-{codec}", 3)
    sent = codec_records(codec)
    produce(topic, [r + (None,) for r in sent], **{"compression.type": codec})
    got = read_all(topic, 3)
    compare_per_partition(sent, [(x.partition(), x.offset(), x.key(), x.value(),
                                  x.headers()) for x in got], 3)


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
        got = drain(c, [0], timeout=20)
    finally:
        c.close()
    expect_eq([x.offset() for x in got], offsets, "offsets consumed")
    expect_eq([x.value() for x in got], [f"earliest-{i}".encode() for i in range(10)],
              "values consumed")


def check_commit_resume():
    topic = create_topic("resume", 1)
    offsets = ten_records(topic, "resume")
    k = offsets[4]
    group = m.name("resume-group")
    first = consumer(group)
    try:
        first.subscribe([topic])
        assigned(first)  # joined is enough to commit; reading would need ListOffsets
        first.commit(offsets=[TopicPartition(topic, 0, k)], asynchronous=False)
    finally:
        first.close()
    second = consumer(group)
    try:
        second.subscribe([topic])
        msg = next_record(second)
        expect_eq(msg.offset(), k, "first offset after resuming")
        committed = second.committed([TopicPartition(topic, 0)], timeout=10)[0]
        expect_eq(committed.offset, k, "committed offset")
    finally:
        second.close()


def timed_batch(topic, deltas):
    """Records with timestamps T0+delta, sent together so they share one batch."""
    return produce(topic, [(0, b"t", f"ts-{d}".encode(), None, T0 + d) for d in deltas],
                   **{"linger.ms": 1000})


def check_offsets_for_times():
    topic = create_topic("times", 1)
    offsets = timed_batch(topic, range(0, 10_000, 1000))
    base = offsets[0]
    expect_eq(offsets, list(range(base, base + 10)), "offsets of the batch")
    c = consumer()
    try:
        found = c.offsets_for_times([TopicPartition(topic, 0, T0 + 5500)], timeout=10)[0]
        expect(found.error is None, f"lookup error {found.error}")
        expect_eq(found.offset, base + 6, "offset for T0+5500")
        past = c.offsets_for_times([TopicPartition(topic, 0, T0 + 20_000)], timeout=10)[0]
        expect_eq(past.offset, -1, "offset for a timestamp past the newest")
    finally:
        c.close()


def check_list_offsets_timestamp():
    topic = create_topic("times-admin", 1)
    base = timed_batch(topic, range(0, 10_000, 1000))[0]
    found = list_offset(topic, OffsetSpec.for_timestamp(T0 + 5500))
    expect_eq((found.offset, found.timestamp), (base + 6, T0 + 6000),
              "(offset, timestamp) for T0+5500")
    past = list_offset(topic, OffsetSpec.for_timestamp(T0 + 20_000))
    expect_eq(past.offset, -1, "offset for a timestamp past the newest")


def check_watermarks():
    topic = create_topic("watermarks", 1)
    offsets = ten_records(topic, "wm")
    expect_eq(watermarks(topic), (offsets[0], offsets[-1] + 1), "(low, high) watermarks")


def check_list_offsets_earliest_latest():
    topic = create_topic("list-offsets", 1)
    offsets = ten_records(topic, "lo")
    expect_eq(list_offset(topic, OffsetSpec.earliest()).offset, offsets[0], "earliest")
    expect_eq(list_offset(topic, OffsetSpec.latest()).offset, offsets[-1] + 1, "latest")


def check_list_offsets_max_timestamp():
    topic = create_topic("max-ts", 1)
    base = timed_batch(topic, [1000, 9000, 2000])[0]
    found = list_offset(topic, OffsetSpec.max_timestamp())
    expect_eq((found.offset, found.timestamp), (base + 1, T0 + 9000),
              "(offset, timestamp) of the max timestamp")


def check_group_split():
    topic = create_topic("split", 4)
    group = m.name("split-group")
    members = [consumer(group, **{"heartbeat.interval.ms": 500, "session.timeout.ms": 6000})
               for _ in range(2)]
    try:
        for c in members:
            c.subscribe([topic])

        def settled():
            for c in members:
                c.poll(0.2)
            parts = [{tp.partition for tp in c.assignment()} for c in members]
            return parts if is_split(parts, 4) else None
        parts = wait_until(settled, 40, "both members to share the 4 partitions")
        produce(topic, [(p, None, f"split-{p}-{i}".encode(), None, None)
                        for p in range(4) for i in range(3)])
        got = [[], []]

        def all_read():
            for i, c in enumerate(members):
                msg = c.poll(0.2)
                if msg is not None and not msg.error():
                    got[i].append(msg.partition())
            return len(got[0]) + len(got[1]) >= 12
        wait_until(all_read, 15, "12 records across both members", step=0)
        for i in range(2):
            expect(got[i], f"member {i} consumed nothing")
            expect(set(got[i]) <= parts[i],
                   f"member {i} read partitions {set(got[i])}, assigned {parts[i]}")
    finally:
        for c in members:
            c.close()


def topic_configs(topic):
    res = ConfigResource(ResourceType.TOPIC, topic)
    return admin.describe_configs([res], request_timeout=10)[res].result(timeout=15)


def check_describe_configs():
    entry = topic_configs(create_topic("describe", 1)).get("retention.ms")
    expect(entry is not None, "no retention.ms in DescribeConfigs")
    expect_eq(entry.value, "604800000", "default retention.ms (168 h)")


def check_alter_configs():
    # Deprecated in the client, but AlterConfigs is still what older tools send.
    warnings.filterwarnings("ignore", "alter_configs has been deprecated", DeprecationWarning)
    topic = create_topic("alter", 1)
    res = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.ms": "7200000"})
    admin.alter_configs([res], request_timeout=10)[res].result(timeout=15)
    entry = topic_configs(topic)["retention.ms"]
    expect_eq((entry.value, entry.source),
              ("7200000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value), "retention.ms after alter")


def check_incremental_alter_configs():
    topic = create_topic("incremental", 1)
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([res], request_timeout=10)[res].result(timeout=15)
    configs = topic_configs(topic)
    expect_eq(configs["retention.ms"].value, "3600000", "retention.ms after the change")
    expect_eq(configs["cleanup.policy"].value, "compact", "cleanup.policy after the change")
    # A second incremental change must leave the first one's other key alone.
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)])
    admin.incremental_alter_configs([res], request_timeout=10)[res].result(timeout=15)
    configs = topic_configs(topic)
    expect_eq(configs["retention.ms"].value, "604800000", "retention.ms after DELETE")
    expect_eq(configs["cleanup.policy"].value, "compact", "cleanup.policy after DELETE")


def check_delete_records():
    topic = create_topic("delete-records", 1)
    offsets = ten_records(topic, "dr")
    k = offsets[4]
    tp = TopicPartition(topic, 0, k)
    result = admin.delete_records([tp], request_timeout=10)[tp].result(timeout=15)
    expect_eq(result.low_watermark, k, "low watermark returned by DeleteRecords")
    expect_eq(list_offset(topic, OffsetSpec.earliest()).offset, k, "earliest offset")
    expect_eq(watermarks(topic)[0], k, "low watermark")
    expect_eq([x.offset() for x in read_all(topic, 1, OFFSET_BEGINNING)], offsets[4:],
              "offsets read from the beginning")


def txn_producer(what):
    p = producer(**{"transactional.id": m.name(what)})
    p.init_transactions(15)
    return p


def check_transactions():
    topic = create_topic("txn", 1)
    p = txn_producer("txn")
    for tag, commit in [("committed", True), ("aborted", False), ("after", True)]:
        p.begin_transaction()
        for i in range(3):
            p.produce(topic, f"{tag}-{i}".encode(), partition=0)
        # Flush first, so that the aborted records reach the log and must be filtered.
        expect_eq(p.flush(10), 0, "messages still queued")
        if commit:
            p.commit_transaction(15)
        else:
            p.abort_transaction(15)
    committed = [x.value().decode() for x in
                 read_all(topic, 1, **{"isolation.level": "read_committed"})]
    expect_eq(committed, [f"{t}-{i}" for t in ("committed", "after") for i in range(3)],
              "read_committed values")
    everything = [x.value().decode() for x in
                  read_all(topic, 1, **{"isolation.level": "read_uncommitted"})]
    expect_eq(len(everything), 9, "read_uncommitted record count")


def check_send_offsets_to_transaction():
    src, dst = create_topic("txn-in", 1), create_topic("txn-out", 1)
    ten_records(src, "in")
    group = m.name("txn-group")
    c = consumer(group, **{"isolation.level": "read_committed"})
    p = txn_producer("txn-offsets")
    try:
        c.subscribe([src])
        got = drain(c, [0], timeout=20)
        expect_eq(len(got), 10, "records read from the input")
        p.begin_transaction()
        for x in got:
            p.produce(dst, x.value().upper(), partition=0)
        p.send_offsets_to_transaction([TopicPartition(src, 0, got[-1].offset() + 1)],
                                      c.consumer_group_metadata(), 15)
        p.commit_transaction(15)
        # An aborted transaction's offsets must not become the group's.
        p.begin_transaction()
        p.send_offsets_to_transaction([TopicPartition(src, 0, 3)],
                                      c.consumer_group_metadata(), 15)
        p.abort_transaction(15)
        committed = c.committed([TopicPartition(src, 0)], timeout=10)[0]
        expect_eq(committed.offset, got[-1].offset() + 1, "group offset after the commit")
    finally:
        c.close()
    out = read_all(dst, 1, **{"isolation.level": "read_committed"})
    expect_eq(len(out), 10, "records in the output topic")


m.check("metadata", check_metadata)
m.check("create-topic", check_create_topic)
for codec in CODECS:
    m.check(f"produce-consume-{codec}", lambda codec=codec: check_codec(codec))
m.check("consume-earliest", check_consume_earliest)
m.check("commit-resume", check_commit_resume, timeout=40)
m.check("offsets-for-times", check_offsets_for_times)
m.check("list-offsets-timestamp", check_list_offsets_timestamp)
m.check("watermarks", check_watermarks)
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
