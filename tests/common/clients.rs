//! rdkafka clients and the helpers tests produce and consume with.

use super::broker::TestBroker;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::ToBytes;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A client config for the broker at `bootstrap` (a 127.0.0.1 address: IPv4 only).
pub fn client_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4");
    c
}

/// An admin client for the broker at `bootstrap`.
pub fn admin_at(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    client_config(bootstrap).create().expect("admin client")
}

/// Creates `topic` (with its configs) through `admin`; panics unless it is created.
pub fn create_topic_with(admin: &AdminClient<DefaultClientContext>, topic: &NewTopic<'_>) {
    let res = futures::executor::block_on(admin.create_topics([topic], &AdminOptions::new()))
        .expect("create_topics");
    for r in res {
        r.expect("topic created");
    }
}

/// Creates a topic of `partitions` partitions on the broker at `bootstrap`.
pub fn create_topic_at(bootstrap: &str, name: &str, partitions: i32) {
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    create_topic_with(&admin_at(bootstrap), &topic);
}

/// Counts acknowledged and failed deliveries.
#[derive(Default, Clone)]
pub struct Deliveries {
    pub acked: Arc<AtomicUsize>,
    pub failed: Arc<AtomicUsize>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.acked.fetch_add(1, Ordering::Relaxed),
            Err((e, _)) => {
                eprintln!("delivery failed: {e}");
                self.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// A producer from `config` with acks=all and `extra`, counting its deliveries.
pub fn producer_with(config: &ClientConfig, extra: &[(&str, &str)]) -> BaseProducer<Deliveries> {
    let mut c = config.clone();
    c.set("acks", "all");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c.create_with_context(Deliveries::default())
        .expect("producer")
}

/// A transactional producer with transactional id `id` for the broker at `bootstrap`.
pub fn transactional_producer(bootstrap: &str, id: &str, extra: &[(&str, &str)]) -> BaseProducer {
    let mut c = client_config(bootstrap);
    c.set("transactional.id", id).set("linger.ms", "5");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c.create().expect("transactional producer")
}

/// One consumed record, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Got {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub timestamp: Option<i64>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Polls until `n` records arrived or `timeout` passed.
pub fn consume(consumer: &BaseConsumer, n: usize, timeout: Duration) -> Vec<Got> {
    use rdkafka::message::Headers;
    let deadline = Instant::now() + timeout;
    let mut out = Vec::with_capacity(n);
    while out.len() < n && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push(Got {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                timestamp: m.timestamp().to_millis(),
                headers: m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => {}
        }
    }
    out
}

/// Sends and waits until every message is acknowledged; panics on a delivery error.
pub fn produce_all<'a>(
    producer: &BaseProducer<Deliveries>,
    records: impl IntoIterator<Item = BaseRecord<'a, [u8], [u8]>>,
) {
    send_all(producer, records);
    producer
        .flush(Duration::from_secs(30))
        .expect("all messages acknowledged");
    assert_eq!(
        producer.context().failed.load(Ordering::Relaxed),
        0,
        "deliveries failed"
    );
}

/// Hands every record to the producer (waiting while its queue is full) without waiting
/// for acknowledgements.
pub fn send_all<'a, C, K, P>(
    producer: &BaseProducer<C>,
    records: impl IntoIterator<Item = BaseRecord<'a, K, P, C::DeliveryOpaque>>,
) where
    C: ProducerContext,
    K: ToBytes + ?Sized + 'a,
    P: ToBytes + ?Sized + 'a,
{
    for mut r in records {
        loop {
            match producer.send(r) {
                Ok(()) => break,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    back,
                )) => {
                    r = back;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => panic!("send failed: {e}"),
            }
        }
        producer.poll(Duration::ZERO);
    }
}

/// A consumer from `config`, outside any group's assignment, that reads partitions
/// 0..`partitions` of `topic` from the beginning.
pub fn assigned_consumer(config: &ClientConfig, topic: &str, partitions: i32) -> BaseConsumer {
    let consumer: BaseConsumer = config.create().expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("tpl");
    }
    consumer.assign(&tpl).expect("assign");
    consumer
}

/// `config` for a member of group `group` that starts from the earliest offset when the
/// group has no commit and commits only when told. Small session timeout so tests see
/// expiry quickly.
pub fn group_config(config: &ClientConfig, group: &str) -> ClientConfig {
    let mut c = config.clone();
    c.set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500");
    c
}

/// A consumer in group `group` (see [`group_config`]), subscribed to `topics`.
pub fn group_consumer(
    broker: &TestBroker,
    group: &str,
    topics: &[&str],
    extra: &[(&str, &str)],
) -> BaseConsumer {
    let mut c = group_config(&broker.client_config(), group);
    for (k, v) in extra {
        c.set(*k, *v);
    }
    let consumer: BaseConsumer = c.create().expect("consumer");
    consumer.subscribe(topics).expect("subscribe");
    consumer
}

/// One poll of a group member: a record's payload (as text) goes to `seen`, and its
/// offset is committed asynchronously.
pub fn poll_and_commit<C: rdkafka::consumer::ConsumerContext>(
    consumer: &BaseConsumer<C>,
    seen: &std::sync::Mutex<Vec<String>>,
) {
    if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
        if let Some(v) = m.payload() {
            seen.lock()
                .expect("seen")
                .push(String::from_utf8_lossy(v).into_owned());
        }
        let _ = consumer.commit_message(&m, rdkafka::consumer::CommitMode::Async);
    }
}
