//! Transactions end to end with librdkafka's transactional producer: commit, abort,
//! interleaving, zombie fencing, timeouts, consume-transform-produce and broker restarts,
//! checked through read_committed and read_uncommitted consumers.

mod common;

use common::{
    assigned_consumer, client_config, consume, create_topic_at, free_port, group_config, raw,
    send_all, transactional_producer, AeonProcess, Got, TestBroker,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

/// DescribeTransactions of one id: (error, state, producer epoch, timeout, topics).
type Described = (i16, String, i16, i32, Vec<(String, Vec<i32>)>);

fn describe(addr: &str, id: &str) -> Described {
    use aeon::protocol::messages::describe_transactions_request::DescribeTransactionsRequest;
    let aeon::protocol::Response::DescribeTransactions(r) = raw(
        addr,
        0,
        DescribeTransactionsRequest {
            transactional_ids: vec![id.to_string()],
            ..Default::default()
        }
        .into(),
    ) else {
        panic!("not a DescribeTransactions response")
    };
    let t = &r.transaction_states[0];
    assert_eq!(t.transactional_id, id);
    (
        t.error_code,
        t.transaction_state.clone(),
        t.producer_epoch,
        t.transaction_timeout_ms,
        t.topics
            .iter()
            .map(|x| (x.topic.clone(), x.partitions.clone()))
            .collect(),
    )
}

/// ListTransactions v1 with a state filter: the ids listed.
fn list(addr: &str, state: &str) -> Vec<String> {
    use aeon::protocol::messages::list_transactions_request::ListTransactionsRequest;
    let aeon::protocol::Response::ListTransactions(r) = raw(
        addr,
        1,
        ListTransactionsRequest {
            state_filters: vec![state.to_string()],
            duration_filter: -1,
            ..Default::default()
        }
        .into(),
    ) else {
        panic!("not a ListTransactions response")
    };
    assert_eq!(r.error_code, 0);
    r.transaction_states
        .iter()
        .map(|t| t.transactional_id.clone())
        .collect()
}

fn send(p: &BaseProducer, topic: &str, partition: i32, value: &str) {
    send_all(
        p,
        [BaseRecord::<str, str>::to(topic)
            .partition(partition)
            .key(value)
            .payload(value)],
    );
}

/// A consumer of every partition from the beginning, with the given isolation level.
fn reader(broker: &TestBroker, topic: &str, partitions: i32, committed: bool) -> BaseConsumer {
    reader_at(&broker.bootstrap(), topic, partitions, committed)
}

fn reader_at(addr: &str, topic: &str, partitions: i32, committed: bool) -> BaseConsumer {
    assigned_consumer(
        client_config(addr)
            .set("group.id", "txn-test-reader")
            .set("enable.auto.commit", "false")
            .set(
                "isolation.level",
                if committed {
                    "read_committed"
                } else {
                    "read_uncommitted"
                },
            ),
        topic,
        partitions,
    )
}

/// A transactional error after which the producer cannot commit what it has.
fn fatal_or_abortable(err: &rdkafka::error::KafkaError) -> bool {
    match err {
        rdkafka::error::KafkaError::Transaction(e) => e.is_fatal() || e.txn_requires_abort(),
        _ => false,
    }
}

fn values(got: &[Got]) -> Vec<String> {
    got.iter()
        .map(|g| String::from_utf8_lossy(g.value.as_deref().unwrap_or_default()).into_owned())
        .collect()
}

/// Everything a consumer gets until nothing more arrives for `quiet`.
fn drain(consumer: &BaseConsumer, quiet: Duration) -> Vec<Got> {
    let mut out = Vec::new();
    loop {
        let more = consume(consumer, 1_000_000, quiet);
        if more.is_empty() {
            return out;
        }
        out.extend(more);
    }
}

#[test]
fn a_committed_transaction_is_seen_whole_by_read_committed_consumers() {
    let broker = TestBroker::start();
    broker.create_topic("tx-commit", 3);
    let p = transactional_producer(&broker.bootstrap(), "committer", &[]);
    p.init_transactions(T).expect("init");
    p.begin_transaction().expect("begin");
    for i in 0..300 {
        send(&p, "tx-commit", i % 3, &format!("m{i}"));
    }
    p.commit_transaction(T).expect("commit");

    let got = consume(&reader(&broker, "tx-commit", 3, true), 300, T);
    assert_eq!(got.len(), 300, "every committed record");
    for part in 0..3 {
        let seq: Vec<String> = values(
            &got.iter()
                .filter(|g| g.partition == part)
                .cloned()
                .collect::<Vec<_>>(),
        );
        let want: Vec<String> = (0..300)
            .filter(|i| i % 3 == part)
            .map(|i| format!("m{i}"))
            .collect();
        assert_eq!(seq, want, "partition {part} in order");
    }
}

#[test]
fn an_aborted_transaction_is_hidden_from_read_committed_and_its_marker_from_everyone() {
    let broker = TestBroker::start();
    broker.create_topic("tx-abort", 1);
    let p = transactional_producer(&broker.bootstrap(), "aborter", &[]);
    p.init_transactions(T).expect("init");
    p.begin_transaction().expect("begin");
    for i in 0..50 {
        send(&p, "tx-abort", 0, &format!("aborted{i}"));
    }
    p.flush(T).expect("the aborted records reach the log");
    p.abort_transaction(T).expect("abort");
    p.begin_transaction().expect("begin");
    for i in 0..10 {
        send(&p, "tx-abort", 0, &format!("kept{i}"));
    }
    p.commit_transaction(T).expect("commit");

    let committed = drain(
        &reader(&broker, "tx-abort", 1, true),
        Duration::from_secs(3),
    );
    let kept: Vec<String> = (0..10).map(|i| format!("kept{i}")).collect();
    assert_eq!(values(&committed), kept, "read_committed: only the commit");

    let all = drain(
        &reader(&broker, "tx-abort", 1, false),
        Duration::from_secs(3),
    );
    assert_eq!(all.len(), 60, "read_uncommitted: the aborted records too");
    assert!(values(&all[..50]).iter().all(|v| v.starts_with("aborted")));
    assert_eq!(values(&all[50..]), kept);
    // The abort marker sits at offset 50: the data after it starts at 51, and no
    // consumer is handed the marker itself.
    assert_eq!(all[49].offset, 49);
    assert_eq!(
        all[50].offset, 51,
        "the marker took offset 50 and was skipped"
    );
}

#[test]
fn interleaved_committed_and_aborted_transactions_leave_exactly_the_committed_in_order() {
    let broker = TestBroker::start();
    broker.create_topic("tx-mix", 2);
    let a = transactional_producer(&broker.bootstrap(), "mix-a", &[]);
    let b = transactional_producer(&broker.bootstrap(), "mix-b", &[]);
    a.init_transactions(T).expect("init a");
    b.init_transactions(T).expect("init b");
    let mut want: Vec<Vec<String>> = vec![Vec::new(), Vec::new()];
    for round in 0..6 {
        a.begin_transaction().expect("begin a");
        b.begin_transaction().expect("begin b");
        for i in 0..20 {
            let part = i % 2;
            let (va, vb) = (format!("a{round}-{i}"), format!("b{round}-{i}"));
            send(&a, "tx-mix", part, &va);
            send(&b, "tx-mix", part, &vb);
        }
        a.flush(T).expect("flush a");
        b.flush(T).expect("flush b");
        // a commits on even rounds, b on odd ones: both always have records in flight
        // on both partitions at the same time.
        let (commit_a, commit_b) = (round % 2 == 0, round % 2 == 1);
        for (p, commit, name) in [(&a, commit_a, "a"), (&b, commit_b, "b")] {
            if commit {
                p.commit_transaction(T).expect("commit");
                for i in 0..20 {
                    want[(i % 2) as usize].push(format!("{name}{round}-{i}"));
                }
            } else {
                p.abort_transaction(T).expect("abort");
            }
        }
    }
    let got = drain(&reader(&broker, "tx-mix", 2, true), Duration::from_secs(3));
    for part in 0..2 {
        let mut seq: Vec<String> = values(
            &got.iter()
                .filter(|g| g.partition == part)
                .cloned()
                .collect::<Vec<_>>(),
        );
        let mut expected = want[part as usize].clone();
        assert_eq!(seq.len(), expected.len(), "partition {part}: count");
        // Per producer, the order is the send order.
        for who in ["a", "b"] {
            let mine = |v: &Vec<String>| {
                v.iter()
                    .filter(|s| s.starts_with(who))
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                mine(&seq),
                mine(&expected),
                "partition {part}, producer {who}"
            );
        }
        seq.sort();
        expected.sort();
        assert_eq!(seq, expected, "partition {part}: exactly the committed");
    }
}

#[test]
fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    let broker = TestBroker::start();
    broker.create_topic("tx-zombie", 1);
    let zombie = transactional_producer(&broker.bootstrap(), "fenced-id", &[]);
    zombie.init_transactions(T).expect("init zombie");
    zombie.begin_transaction().expect("begin");
    for i in 0..20 {
        send(&zombie, "tx-zombie", 0, &format!("zombie{i}"));
    }
    zombie.flush(T).expect("flush");

    let successor = transactional_producer(&broker.bootstrap(), "fenced-id", &[]);
    successor.init_transactions(T).expect("init successor");
    successor.begin_transaction().expect("begin");
    for i in 0..5 {
        send(&successor, "tx-zombie", 0, &format!("live{i}"));
    }
    successor
        .commit_transaction(T)
        .expect("the successor commits");

    let err = zombie
        .commit_transaction(T)
        .expect_err("the zombie cannot commit");
    assert!(fatal_or_abortable(&err), "the zombie is fenced: {err}");
    let got = drain(
        &reader(&broker, "tx-zombie", 1, true),
        Duration::from_secs(3),
    );
    let live: Vec<String> = (0..5).map(|i| format!("live{i}")).collect();
    assert_eq!(values(&got), live, "only the successor's records");
}

#[test]
fn a_transaction_left_open_past_its_timeout_is_aborted_and_an_oversized_timeout_refused() {
    let broker = TestBroker::start_with(|c| {
        c.set("transaction.max.timeout.ms", "60000")
            .expect("max timeout")
    });
    broker.create_topic("tx-timeout", 1);

    let greedy = transactional_producer(
        &broker.bootstrap(),
        "greedy",
        &[("transaction.timeout.ms", "120000")],
    );
    let err = greedy
        .init_transactions(T)
        .expect_err("a timeout above transaction.max.timeout.ms");
    assert!(
        matches!(
            &err,
            rdkafka::error::KafkaError::Transaction(e)
                if e.code() == rdkafka::types::RDKafkaErrorCode::InvalidTransactionTimeout
        ),
        "INVALID_TRANSACTION_TIMEOUT: {err}"
    );

    let abandoned = transactional_producer(
        &broker.bootstrap(),
        "abandoned",
        &[("transaction.timeout.ms", "2000")],
    );
    abandoned.init_transactions(T).expect("init");
    abandoned.begin_transaction().expect("begin");
    for i in 0..10 {
        send(&abandoned, "tx-timeout", 0, &format!("lost{i}"));
    }
    abandoned.flush(T).expect("flush");
    let (code, state, epoch, timeout, topics) = describe(&broker.bootstrap(), "abandoned");
    assert_eq!((code, state.as_str(), timeout), (0, "Ongoing", 2000));
    assert_eq!(topics, vec![("tx-timeout".to_string(), vec![0])]);
    assert_eq!(
        list(&broker.bootstrap(), "Ongoing"),
        vec!["abandoned".to_string()]
    );
    // The producer goes silent. Another one commits after it on the same partition:
    // read_committed can only reach that commit once the open transaction is aborted.
    let other = transactional_producer(&broker.bootstrap(), "after", &[]);
    other.init_transactions(T).expect("init");
    other.begin_transaction().expect("begin");
    send(&other, "tx-timeout", 0, "after");
    other.commit_transaction(T).expect("commit");

    let started = Instant::now();
    let got = consume(&reader(&broker, "tx-timeout", 1, true), 1, T);
    assert_eq!(
        values(&got),
        vec!["after".to_string()],
        "the timed-out records never show"
    );
    assert!(
        started.elapsed() < T,
        "the abandoned transaction was aborted by the coordinator"
    );
    let (_, state, bumped, _, topics) = describe(&broker.bootstrap(), "abandoned");
    assert_eq!(state, "CompleteAbort");
    assert!(
        bumped > epoch,
        "the abort fenced the abandoned producer's epoch"
    );
    assert!(topics.is_empty());
    assert!(list(&broker.bootstrap(), "CompleteAbort").contains(&"abandoned".to_string()));
    assert_eq!(
        describe(&broker.bootstrap(), "never-seen").0,
        aeon::protocol::ErrorCode::TransactionalIdNotFound.code()
    );
    let err = abandoned
        .commit_transaction(T)
        .expect_err("the timed-out transaction cannot commit");
    assert!(
        fatal_or_abortable(&err),
        "the abandoned producer learns its transaction is gone: {err}"
    );
}

#[test]
fn transactions_in_flight_survive_a_broker_restart() {
    let port = free_port();
    let listeners = format!("127.0.0.1:{port}");
    let mut broker =
        TestBroker::start_with(move |c| c.set("listeners", &listeners).expect("listeners"));
    broker.create_topic("tx-restart", 1);
    let addr = broker.bootstrap();
    let p = transactional_producer(&addr, "survivor", &[]);
    p.init_transactions(T).expect("init");
    p.begin_transaction().expect("begin");
    for i in 0..10 {
        send(&p, "tx-restart", 0, &format!("before{i}"));
    }
    p.flush(T).expect("flush");
    let left_open =
        transactional_producer(&addr, "left-open", &[("transaction.timeout.ms", "3000")]);
    left_open.init_transactions(T).expect("init");
    left_open.begin_transaction().expect("begin");
    send(&left_open, "tx-restart", 0, "never");
    left_open.flush(T).expect("flush");

    broker.restart();
    assert_eq!(broker.bootstrap(), addr, "same address after the restart");

    // The producer goes on with its transaction after the restart and commits it; the
    // transaction left open is aborted by its timeout, restored from the log.
    for i in 0..10 {
        send(&p, "tx-restart", 0, &format!("after{i}"));
    }
    p.commit_transaction(T).expect("commit after the restart");
    let got = consume(&reader(&broker, "tx-restart", 1, true), 20, T);
    let want: Vec<String> = (0..10)
        .map(|i| format!("before{i}"))
        .chain((0..10).map(|i| format!("after{i}")))
        .collect();
    assert_eq!(values(&got), want);
    let reader = reader(&broker, "tx-restart", 1, true);
    assert!(
        !values(&drain(&reader, Duration::from_secs(5))).contains(&"never".to_string()),
        "the abandoned transaction stays invisible"
    );
}

/// One consume-transform-produce step: reads up to `max` input records, writes them
/// upper-cased to the output and commits the input offsets, all in one transaction.
/// Returns how many records it moved; `commit` false leaves the transaction open (the
/// processor dies).
fn process(consumer: &BaseConsumer, producer: &BaseProducer, max: usize, commit: bool) -> usize {
    let batch = consume(consumer, max, Duration::from_secs(3));
    if batch.is_empty() {
        return 0;
    }
    producer.begin_transaction().expect("begin");
    let mut offsets = TopicPartitionList::new();
    for g in &batch {
        let v = String::from_utf8_lossy(g.value.as_deref().unwrap_or_default()).to_uppercase();
        send(producer, "ctp-out", g.partition, &v);
        offsets
            .add_partition_offset("ctp-in", g.partition, Offset::Offset(g.offset + 1))
            .expect("offset");
    }
    let metadata = consumer.group_metadata().expect("group metadata");
    producer
        .send_offsets_to_transaction(&offsets, &metadata, T)
        .expect("send offsets");
    if commit {
        producer.commit_transaction(T).expect("commit");
    } else {
        producer.flush(T).expect("flush");
    }
    batch.len()
}

/// Creates "ctp-in" and "ctp-out" (two partitions each) and commits `n` input records
/// ("v0", "v1", ...) to "ctp-in" in one transaction, alternating partitions.
fn ctp_topics_with_input(addr: &str, n: i32) {
    create_topic_at(addr, "ctp-in", 2);
    create_topic_at(addr, "ctp-out", 2);
    let input = transactional_producer(addr, "ctp-source", &[]);
    input.init_transactions(T).expect("init");
    input.begin_transaction().expect("begin");
    for i in 0..n {
        send(&input, "ctp-in", i % 2, &format!("v{i}"));
    }
    input.commit_transaction(T).expect("input committed");
}

/// "ctp-out", read committed, holds each of the `n` inputs upper-cased, exactly once.
fn assert_output_is_the_input_once(addr: &str, n: i32) {
    let out = drain(&reader_at(addr, "ctp-out", 2, true), Duration::from_secs(3));
    let mut got = values(&out);
    got.sort();
    let mut want: Vec<String> = (0..n).map(|i| format!("V{i}")).collect();
    want.sort();
    assert_eq!(got, want, "every input exactly once in the output");
}

/// The sum of the group's committed offsets of the partitions `consumer` is assigned.
fn committed_total(consumer: &BaseConsumer) -> i64 {
    consumer
        .committed(Duration::from_secs(10))
        .expect("committed offsets")
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        })
        .sum()
}

/// The real `aeon` binary on `port`, over `dir`.
fn start_binary(dir: &std::path::Path, port: u16) -> AeonProcess {
    AeonProcess::spawn(
        common::aeon_serving(dir, port).env("AEON_GROUP_INITIAL_REBALANCE_DELAY_MS", "0"),
    )
}

fn group_consumer_at(addr: &str, group: &str, topic: &str) -> BaseConsumer {
    let consumer: BaseConsumer = group_config(&client_config(addr), group)
        .set("isolation.level", "read_committed")
        .set("max.poll.interval.ms", "10000")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

#[test]
fn consume_transform_produce_is_exactly_once_across_a_crash_and_a_restart() {
    let dir = tempfile::tempdir().expect("data dir");
    let port = free_port();
    let mut aeon = start_binary(dir.path(), port);
    let addr = aeon.addr.clone();
    let n = 400;
    ctp_topics_with_input(&addr, n);

    // The first processor moves part of the input, then dies inside a transaction
    // whose output and offsets are written but never committed, and the broker is
    // SIGKILLed under it.
    let consumer = group_consumer_at(&addr, "ctp", "ctp-in");
    let producer = transactional_producer(&addr, "ctp-processor", &[]);
    producer.init_transactions(T).expect("init");
    let mut moved = 0;
    while moved < 150 {
        moved += process(&consumer, &producer, 50, true);
    }
    assert!(
        process(&consumer, &producer, 50, false) > 0,
        "work in flight when it dies"
    );
    aeon.sigkill();
    // The dead processor's clients never speak again (no LeaveGroup, no EndTxn).
    std::mem::forget(consumer);
    std::mem::forget(producer);
    let _aeon = start_binary(dir.path(), port);

    // The replacement fences the dead processor's transaction (aborting it) and goes on
    // from the committed offsets.
    let producer = transactional_producer(&addr, "ctp-processor", &[]);
    producer.init_transactions(T).expect("init replacement");
    let consumer = group_consumer_at(&addr, "ctp", "ctp-in");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        process(&consumer, &producer, 100, true);
        let total = committed_total(&consumer);
        // The committed position of each input partition is one past its last record.
        if total >= i64::from(n) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the input is consumed ({total} committed)"
        );
    }

    assert_output_is_the_input_once(&addr, n);
}

/// Rewrites the last `__transaction_state` record of `id` with its state replaced, as
/// a broker that died right after persisting that decision would have left it.
fn leave_decision_in_the_log(dir: &std::path::Path, id: &str, state: aeon::txn::TxnState) {
    use aeon::protocol::records::{BatchIter, RecordBatchBuilder, RecordSpec};
    use aeon::storage::{Log, LogConfig};
    use aeon::txn::record;
    let config = LogConfig {
        segment_bytes: 104_857_600,
        ..LogConfig::default()
    };
    let mut log = Log::open(Log::partition_dir(dir, "__transaction_state", 0), config, 0)
        .expect("transaction log opens");
    let data = log
        .read(log.log_start_offset(), 64 << 20)
        .expect("transaction log reads");
    let mut last = None;
    for batch in BatchIter::new(&data) {
        for r in batch.records().expect("records").flatten() {
            if let Ok((rid, Some(m))) = record::decode(r.key.unwrap_or_default(), r.value) {
                if rid == id {
                    last = Some(m);
                }
            }
        }
    }
    let mut m = last.expect("the id is in the log");
    assert_eq!(m.state, aeon::txn::TxnState::Ongoing);
    m.state = state;
    let batch = RecordBatchBuilder::new(0, 0)
        .record(RecordSpec::new(
            Some(&record::key_bytes(id)),
            Some(&record::value_bytes(&m)),
        ))
        .build();
    log.append(&batch, 0).expect("append");
    log.close().expect("close");
}

#[test]
fn a_decision_persisted_before_a_crash_is_carried_out_by_the_restarted_broker() {
    let port = free_port();
    let listeners = format!("127.0.0.1:{port}");
    let mut broker = TestBroker::start_with(move |c| {
        c.set("listeners", &listeners).expect("listeners");
        c.set("transaction.state.log.num.partitions", "1")
            .expect("one partition")
    });
    broker.create_topic("tx-decided", 1);
    let addr = broker.bootstrap();
    for id in ["decided-commit", "decided-abort"] {
        let p = transactional_producer(&addr, id, &[]);
        p.init_transactions(T).expect("init");
        p.begin_transaction().expect("begin");
        for i in 0..5 {
            send(&p, "tx-decided", 0, &format!("{id}-{i}"));
        }
        p.flush(T).expect("flush");
        std::mem::forget(p);
    }
    broker.stop();
    leave_decision_in_the_log(
        broker.dir.path(),
        "decided-commit",
        aeon::txn::TxnState::PrepareCommit,
    );
    leave_decision_in_the_log(
        broker.dir.path(),
        "decided-abort",
        aeon::txn::TxnState::PrepareAbort,
    );
    broker.restart();

    let got = drain(
        &reader(&broker, "tx-decided", 1, true),
        Duration::from_secs(3),
    );
    let want: Vec<String> = (0..5).map(|i| format!("decided-commit-{i}")).collect();
    assert_eq!(
        values(&got),
        want,
        "the commit is carried out, the abort too"
    );
    assert_eq!(describe(&addr, "decided-commit").1, "CompleteCommit");
    assert_eq!(describe(&addr, "decided-abort").1, "CompleteAbort");
}

#[test]
fn an_idle_transactional_id_expires_and_stays_forgotten_after_a_restart() {
    let mut broker = TestBroker::start_with(|c| {
        c.set("transactional.id.expiration.ms", "1500")
            .expect("expiration")
    });
    broker.create_topic("tx-expire", 1);
    let addr = broker.bootstrap();
    let idle = transactional_producer(&addr, "idle", &[]);
    idle.init_transactions(T).expect("init");
    idle.begin_transaction().expect("begin");
    send(&idle, "tx-expire", 0, "done");
    idle.commit_transaction(T).expect("commit");
    // An open transaction is never expired, however long it waits for its timeout.
    let open = transactional_producer(&addr, "open", &[("transaction.timeout.ms", "60000")]);
    open.init_transactions(T).expect("init");
    open.begin_transaction().expect("begin");
    send(&open, "tx-expire", 0, "pending");
    open.flush(T).expect("flush");
    assert_eq!(describe(&addr, "idle").1, "CompleteCommit");

    let deadline = Instant::now() + Duration::from_secs(20);
    while describe(&addr, "idle").0 != aeon::protocol::ErrorCode::TransactionalIdNotFound.code() {
        assert!(Instant::now() < deadline, "the idle id expired");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(describe(&addr, "open").1, "Ongoing", "the open one stays");
    broker.restart();
    let addr = broker.bootstrap();
    assert_eq!(
        describe(&addr, "idle").0,
        aeon::protocol::ErrorCode::TransactionalIdNotFound.code(),
        "the tombstone holds across a restart"
    );
    assert_eq!(describe(&addr, "open").1, "Ongoing");
    // The id can be used again from scratch.
    let again = transactional_producer(&addr, "idle", &[]);
    again.init_transactions(T).expect("init again");
    assert_eq!(describe(&addr, "idle").1, "Empty");
}

/// Transactional offset commits of a group on the consumer protocol (KIP-848): the
/// consumer's group metadata carries its member epoch, which TxnOffsetCommit checks.
/// An aborted transaction commits no offset; committed ones move the group's offsets,
/// and the output holds every input record once.
#[test]
fn transactional_offset_commits_work_for_a_consumer_protocol_group() {
    let broker = TestBroker::start_with(|c| {
        c.set("group.initial.rebalance.delay.ms", "0").expect("set");
    });
    let addr = broker.bootstrap();
    let n = 200;
    ctp_topics_with_input(&addr, n);

    let mut config = client_config(&addr);
    config
        .set("group.id", "k848")
        .set("group.protocol", "consumer")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed");
    let consumer: BaseConsumer = config.create().expect("consumer");
    consumer.subscribe(&["ctp-in"]).expect("subscribe");
    let producer = transactional_producer(&addr, "k848-processor", &[]);
    producer.init_transactions(T).expect("init");

    // A first step whose transaction is aborted: its offsets are never committed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while process(&consumer, &producer, 50, false) == 0 {
        assert!(
            Instant::now() < deadline,
            "the consumer gets its partitions"
        );
    }
    producer.abort_transaction(T).expect("abort");
    assert_eq!(
        committed_total(&consumer),
        0,
        "an aborted transaction commits nothing"
    );
    // As an application does after an abort: back to the committed positions.
    for p in 0..2 {
        consumer
            .seek("ctp-in", p, Offset::Beginning, T)
            .expect("seek");
    }

    let deadline = Instant::now() + Duration::from_secs(60);
    while committed_total(&consumer) < i64::from(n) {
        process(&consumer, &producer, 100, true);
        assert!(Instant::now() < deadline, "the input is consumed");
    }
    assert_output_is_the_input_once(&addr, n);
}
