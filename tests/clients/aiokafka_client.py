"""Client-compatibility checks of Aeon with aiokafka (asyncio).

Usage: .venv/bin/python aiokafka_client.py HOST:PORT

What aiokafka 0.14 lacks, and so is not checked here:
- incremental alter configs: its admin client has only AlterConfigs (v0-v1);
- an admin ListOffsets (list_offsets / OffsetSpec), hence no max-timestamp lookup;
  offsets come from the consumer's beginning_offsets / end_offsets / offsets_for_times.
Its ListOffsets requests are v1-v3 only, so this script is the one that exercises
those old versions against the broker.
"""

import asyncio
import contextlib
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic, RecordsToDelete
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from _matrix import (CODECS, CheckFailed, Matrix, codec_records, compare_per_partition,
                     expect, expect_eq, is_split)

m = Matrix("aiokafka")
BOOT = m.bootstrap
T0 = int(time.time() * 1000) - 60_000  # timestamps in the recent past, never in the future
COMMON = {"bootstrap_servers": BOOT, "request_timeout_ms": 10_000}


def check(name, fn, timeout=25):
    """Runs one async check on its own event loop; the inner deadline lets the
    check's `finally` blocks stop its clients before the thread-level one fires."""
    async def bounded():
        try:
            await asyncio.wait_for(fn(), timeout - 3)
        except asyncio.TimeoutError:
            raise CheckFailed(f"timed out after {timeout - 3} s")
    m.check(name, lambda: asyncio.run(bounded()), timeout)


@contextlib.asynccontextmanager
async def started(client):
    await client.start()
    try:
        yield client
    finally:
        # The admin client stops with close(), producers and consumers with stop().
        await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())


def admin():
    return started(AIOKafkaAdminClient(**COMMON))


def consumer(group=None, **conf):
    return started(AIOKafkaConsumer(**COMMON, group_id=group, enable_auto_commit=False,
                                    auto_offset_reset="earliest", **conf))


async def create_topic(what, partitions):
    name = m.name(what)
    async with admin() as a:
        response = await a.create_topics([NewTopic(name, partitions, 1)])
    errors = [e for e in response.topic_errors if e[1] != 0]
    expect(not errors, f"CreateTopics errors {errors}")
    return name


async def produce(topic, records, **conf):
    """records: (partition, key, value, headers, timestamp or None). Returns offsets."""
    async with started(AIOKafkaProducer(**{**COMMON, "linger_ms": 20, **conf})) as p:
        futures = [await p.send(topic, v, k, partition=part, timestamp_ms=ts, headers=h)
                   for part, k, v, h, ts in records]
        return [(await f).offset for f in futures]


async def drain(c, timeout=15):
    """Polls until every assigned partition's position reaches the high watermark its
    fetches reported. Returns the records in arrival order."""
    out = []
    deadline = time.monotonic() + timeout

    async def at_end(tp):
        high = c.highwater(tp)
        return high is not None and await c.position(tp) >= high
    while not (c.assignment() and all([await at_end(tp) for tp in c.assignment()])):
        expect(time.monotonic() < deadline, "did not reach the end of the partitions")
        out += [r for rs in (await c.getmany(timeout_ms=200)).values() for r in rs]
    return out


async def read_all(topic, partitions, start=0, **conf):
    """Reads every partition from offset `start` (None: seek_to_beginning) to its end.
    The checks' topics are new, so 0 is their beginning: asking for it by number keeps
    these reads independent of ListOffsets, which has checks of its own."""
    async with consumer(**conf) as c:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        c.assign(tps)
        if start is None:
            await c.seek_to_beginning()
        else:
            for tp in tps:
                c.seek(tp, start)
        return await drain(c)


async def check_metadata():
    async with admin() as a:
        cluster = await a.describe_cluster()
    expect_eq([b["node_id"] for b in cluster["brokers"]], [1], "brokers in Metadata")
    expect(cluster.get("cluster_id"), "no cluster id")


async def check_create_topic():
    name = await create_topic("created", 3)
    async with admin() as a:
        [topic] = await a.describe_topics([name])
    expect_eq(topic["error_code"], 0, "metadata error code")
    expect_eq(sorted(p["partition"] for p in topic["partitions"]), [0, 1, 2],
              "partitions of the created topic")
    expect_eq({p["leader"] for p in topic["partitions"]}, {1}, "partition leaders")


async def check_codec(codec):
    topic = await create_topic(f"codec-{codec}", 3)
    sent = codec_records(codec)
    await produce(topic, [r + (None,) for r in sent],
                  compression_type=None if codec == "none" else codec)
    got = await read_all(topic, 3)
    compare_per_partition(sent, [(r.partition, r.offset, r.key, r.value, list(r.headers))
                                 for r in got], 3)


async def ten_records(topic, tag):
    return await produce(topic, [(0, f"k{i}".encode(), f"{tag}-{i}".encode(), None, None)
                                 for i in range(10)])


async def check_consume_earliest():
    # A new group without committed offsets must start at the log start.
    topic = await create_topic("earliest", 1)
    offsets = await ten_records(topic, "earliest")
    async with consumer(m.name("earliest-group")) as c:
        c.subscribe([topic])
        got = await drain(c, timeout=20)
    expect_eq([r.offset for r in got], offsets, "offsets consumed")
    expect_eq([r.value for r in got], [f"earliest-{i}".encode() for i in range(10)],
              "values consumed")


async def check_commit_resume():
    topic = await create_topic("resume", 1)
    offsets = await ten_records(topic, "resume")
    k, tp = offsets[4], TopicPartition(topic, 0)
    group = m.name("resume-group")
    async with consumer(group) as first:
        first.subscribe([topic])
        while not first.assignment():  # joined is enough; reading would need ListOffsets
            await first.getmany(timeout_ms=200)
        await first.commit({tp: k})
    async with consumer(group) as second:
        second.subscribe([topic])
        expect_eq((await second.getone()).offset, k, "first offset after resuming")
        expect_eq(await second.committed(tp), k, "committed offset")


async def check_offsets_for_times():
    topic = await create_topic("times", 1)
    tp = TopicPartition(topic, 0)
    async with started(AIOKafkaProducer(**COMMON)) as p:
        # An explicit batch: the ten records are one RecordBatch, whatever the timing.
        batch = p.create_batch()
        for i in range(10):
            expect(batch.append(key=b"t", value=f"ts-{i}".encode(), timestamp=T0 + 1000 * i,
                                headers=[]) is not None, "batch full")
        base = (await (await p.send_batch(batch, topic, partition=0))).offset
    async with consumer() as c:
        found = (await c.offsets_for_times({tp: T0 + 5500}))[tp]
        expect(found is not None, "no offset for T0+5500")
        expect_eq((found.offset, found.timestamp), (base + 6, T0 + 6000),
                  "(offset, timestamp) for T0+5500")
        past = (await c.offsets_for_times({tp: T0 + 20_000}))[tp]
        expect_eq(past, None, "answer for a timestamp past the newest")


async def check_beginning_end_offsets():
    topic = await create_topic("begin-end", 1)
    offsets = await ten_records(topic, "be")
    tp = TopicPartition(topic, 0)
    async with consumer() as c:
        expect_eq((await c.beginning_offsets([tp]))[tp], offsets[0], "beginning")
        expect_eq((await c.end_offsets([tp]))[tp], offsets[-1] + 1, "end")


async def check_group_split():
    topic = await create_topic("split", 4)
    group = m.name("split-group")
    got, parts = [[], []], [set(), set()]
    async with contextlib.AsyncExitStack() as stack:
        members = [await stack.enter_async_context(consumer(
            group, heartbeat_interval_ms=500, session_timeout_ms=10000)) for _ in range(2)]
        for c in members:
            c.subscribe([topic])

        async def poll(i):
            for rs in (await members[i].getmany(timeout_ms=200)).values():
                got[i].extend(r.partition for r in rs)
            parts[i] = {tp.partition for tp in members[i].assignment()}

        while not is_split(parts, 4):
            await asyncio.gather(poll(0), poll(1))
        await produce(topic, [(p, None, f"split-{p}-{i}".encode(), None, None)
                              for p in range(4) for i in range(3)])
        while len(got[0]) + len(got[1]) < 12:
            await asyncio.gather(poll(0), poll(1))
    for i in range(2):
        expect(got[i], f"member {i} consumed nothing")
        expect(set(got[i]) <= parts[i],
               f"member {i} read partitions {set(got[i])}, assigned {parts[i]}")


async def topic_configs(topic):
    async with admin() as a:
        [response] = await a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    [resource] = response.resources
    expect_eq(resource[0], 0, "DescribeConfigs error code")
    # (name, value, read_only, config_source, ...) from v1 on.
    return {e[0]: e for e in resource[4]}


async def check_describe_configs():
    entry = (await topic_configs(await create_topic("describe", 1))).get("retention.ms")
    expect(entry is not None, "no retention.ms in DescribeConfigs")
    expect_eq(entry[1], "604800000", "default retention.ms (168 h)")


async def check_alter_configs():
    topic = await create_topic("alter", 1)
    async with admin() as a:
        responses = await a.alter_configs([ConfigResource(
            ConfigResourceType.TOPIC, topic, {"retention.ms": "7200000"})])
    errors = [r for resp in responses for r in resp.resources if r[0] != 0]
    expect(not errors, f"AlterConfigs errors {errors}")
    entry = (await topic_configs(topic))["retention.ms"]
    expect_eq((entry[1], entry[3]), ("7200000", 1), "(value, source DYNAMIC_TOPIC_CONFIG)")


async def check_delete_records():
    topic = await create_topic("delete-records", 1)
    offsets = await ten_records(topic, "dr")
    k, tp = offsets[4], TopicPartition(topic, 0)
    async with admin() as a:
        result = await a.delete_records({tp: RecordsToDelete(k)})
    expect_eq(result[tp], k, "low watermark returned by DeleteRecords")
    async with consumer() as c:
        expect_eq((await c.beginning_offsets([tp]))[tp], k, "beginning offset")
    expect_eq([r.offset for r in await read_all(topic, 1, None)], offsets[4:],
              "offsets read from the beginning")


def txn_producer(what):
    return started(AIOKafkaProducer(**COMMON, transactional_id=m.name(what)))


async def check_transactions():
    topic = await create_topic("txn", 1)
    async with txn_producer("txn") as p:
        for tag, commit in [("committed", True), ("aborted", False), ("after", True)]:
            await p.begin_transaction()
            for i in range(3):
                await p.send(topic, f"{tag}-{i}".encode(), partition=0)
            # Flush first, so that the aborted records reach the log and must be filtered.
            await p.flush()
            if commit:
                await p.commit_transaction()
            else:
                await p.abort_transaction()
    committed = [r.value.decode() for r in
                 await read_all(topic, 1, isolation_level="read_committed")]
    expect_eq(committed, [f"{t}-{i}" for t in ("committed", "after") for i in range(3)],
              "read_committed values")
    everything = await read_all(topic, 1, isolation_level="read_uncommitted")
    expect_eq(len(everything), 9, "read_uncommitted record count")


async def check_send_offsets_to_transaction():
    src, dst = await create_topic("txn-in", 1), await create_topic("txn-out", 1)
    await ten_records(src, "in")
    tp, group = TopicPartition(src, 0), m.name("txn-group")
    async with consumer(group, isolation_level="read_committed") as c, \
            txn_producer("txn-offsets") as p:
        c.subscribe([src])
        got = await drain(c, timeout=20)
        expect_eq(len(got), 10, "records read from the input")
        async with p.transaction():
            for r in got:
                await p.send(dst, r.value.upper(), partition=0)
            await p.send_offsets_to_transaction({tp: got[-1].offset + 1}, group)
        # An aborted transaction's offsets must not become the group's.
        await p.begin_transaction()
        await p.send_offsets_to_transaction({tp: 3}, group)
        await p.abort_transaction()
        expect_eq(await c.committed(tp), got[-1].offset + 1, "group offset after the commit")
    out = await read_all(dst, 1, isolation_level="read_committed")
    expect_eq(len(out), 10, "records in the output topic")


check("metadata", check_metadata)
check("create-topic", check_create_topic)
for codec in CODECS:
    check(f"produce-consume-{codec}", lambda codec=codec: check_codec(codec))
check("consume-earliest", check_consume_earliest)
check("commit-resume", check_commit_resume, timeout=40)
check("offsets-for-times", check_offsets_for_times)
check("beginning-end-offsets", check_beginning_end_offsets)
check("group-split", check_group_split, timeout=60)
check("describe-configs", check_describe_configs)
check("alter-configs", check_alter_configs)
check("delete-records", check_delete_records)
check("transactions", check_transactions, timeout=40)
check("send-offsets-to-transaction", check_send_offsets_to_transaction, timeout=40)
m.finish()
