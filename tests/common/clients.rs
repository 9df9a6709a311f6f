//! rdkafka clients and the helpers tests produce and consume with.

use super::broker::TestBroker;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use rdkafka::Message;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
pub fn send_all<'a>(
    producer: &BaseProducer<Deliveries>,
    records: impl IntoIterator<Item = BaseRecord<'a, [u8], [u8]>>,
) {
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

/// A consumer in group `group`, subscribed to `topics`, from the earliest offset when
/// the group has no commit. Small session timeout so tests see expiry quickly.
pub fn group_consumer(
    broker: &TestBroker,
    group: &str,
    topics: &[&str],
    extra: &[(&str, &str)],
) -> BaseConsumer {
    let mut c = broker.client_config();
    c.set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    let consumer: BaseConsumer = c.create().expect("consumer");
    consumer.subscribe(topics).expect("subscribe");
    consumer
}
