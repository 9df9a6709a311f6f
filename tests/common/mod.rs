//! The one harness every integration test shares: a real broker on 127.0.0.1:0 with a
//! temporary data directory, stopped (cleanly) on drop, and rdkafka clients for it.
#![allow(dead_code)]

use aeon::config::Config;
use aeon::Broker;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub struct TestBroker {
    broker: Option<Broker>,
    pub dir: TempDir,
    tweak: Box<dyn Fn(&mut Config)>,
}

pub fn test_config(dir: &std::path::Path) -> Config {
    let mut c = Config::default();
    c.set("listeners", "127.0.0.1:0").expect("listeners");
    c.set("log.dirs", &dir.to_string_lossy()).expect("log.dirs");
    c.set("num.network.threads", "2").expect("threads");
    c.set("log.segment.bytes", "8388608")
        .expect("segment bytes");
    // Removed segments' files go at once, so tests that measure disk use see it.
    c.set("log.segment.delete.delay.ms", "0")
        .expect("delete delay");
    c
}

impl TestBroker {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    pub fn start_with(tweak: impl Fn(&mut Config) + 'static) -> Self {
        // RUST_LOG=aeon=debug shows the broker's log in a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
        tweak(&mut config);
        let broker = Broker::start(config).expect("broker starts");
        TestBroker {
            broker: Some(broker),
            dir,
            tweak: Box::new(tweak),
        }
    }

    pub fn bootstrap(&self) -> String {
        self.broker
            .as_ref()
            .expect("running")
            .local_addr()
            .to_string()
    }

    /// How many responses this broker failed to encode: always a broker bug.
    pub fn response_encode_failures(&self) -> u64 {
        self.broker
            .as_ref()
            .map_or(0, |b| b.metrics().response_encode_failures())
    }

    /// Stops the broker cleanly; [`TestBroker::restart`] starts it again. Every test
    /// thereby checks that the broker encoded every response it built.
    pub fn stop(&mut self) {
        if let Some(b) = self.broker.take() {
            let failures = b.metrics().response_encode_failures();
            b.stop();
            if !std::thread::panicking() {
                assert_eq!(
                    failures, 0,
                    "responses the broker failed to encode (see its ERROR log)"
                );
            }
        }
    }

    /// Stops the broker cleanly (if it runs) and starts it again on the same data (a new
    /// port unless the test fixed one).
    pub fn restart(&mut self) {
        self.stop();
        let mut config = test_config(self.dir.path());
        (self.tweak)(&mut config);
        self.broker = Some(Broker::start(config).expect("broker restarts"));
    }

    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.bootstrap())
            .set("broker.address.family", "v4")
            .set("socket.timeout.ms", "10000")
            .set("message.timeout.ms", "20000");
        c
    }

    pub fn admin(&self) -> AdminClient<DefaultClientContext> {
        self.client_config().create().expect("admin client")
    }

    pub fn producer(&self, extra: &[(&str, &str)]) -> BaseProducer<Deliveries> {
        let mut c = self.client_config();
        c.set("acks", "all").set("linger.ms", "5");
        for (k, v) in extra {
            c.set(*k, *v);
        }
        c.create_with_context(Deliveries::default())
            .expect("producer")
    }

    /// A consumer without a group: partitions are assigned from the beginning.
    pub fn consumer(&self, topic: &str, partitions: i32) -> BaseConsumer {
        let mut c = self.client_config();
        c.set("group.id", "aeon-test-unused")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        let consumer: BaseConsumer = c.create().expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .expect("tpl");
        }
        consumer.assign(&tpl).expect("assign");
        consumer
    }

    pub fn create_topic(&self, name: &str, partitions: i32) {
        let admin = self.admin();
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let res = futures::executor::block_on(admin.create_topics([&topic], &AdminOptions::new()))
            .expect("create_topics");
        for r in res {
            r.expect("topic created");
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.stop();
    }
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

/// Raw protocol access for tests that go below the client: writes one request frame.
pub fn write_request(
    s: &mut std::net::TcpStream,
    version: i16,
    correlation_id: i32,
    body: aeon::protocol::Request,
) {
    use std::io::Write;
    let header = aeon::protocol::messages::RequestHeader {
        request_api_key: body.api_key().code(),
        request_api_version: version,
        correlation_id,
        client_id: Some("raw-test".into()),
        ..Default::default()
    };
    let frame = aeon::protocol::frame::encode_request(&header, &body).expect("encode");
    s.write_all(&frame).expect("write");
}

/// Reads one response frame's bytes (after the size).
pub fn read_frame(s: &mut std::net::TcpStream) -> bytes::Bytes {
    use std::io::Read;
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("frame size");
    let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).expect("frame");
    buf.into()
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

/// The `aeon` binary as a command, without the test harness's own `AEON_*` variables
/// (`AEON_REQUIRE_SHARED`, ...): the broker reads every `AEON_*` variable as a config
/// key and refuses the ones it does not know.
pub fn aeon_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_aeon"));
    for (name, _) in std::env::vars() {
        if name.starts_with("AEON_") {
            command.env_remove(name);
        }
    }
    command
}

/// A running `aeon` binary: its address (read from its log) and every log line so far.
pub struct SpawnedAeon {
    pub child: std::process::Child,
    pub addr: String,
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
}

/// Spawns a prepared `aeon` command (give it `--listen 127.0.0.1:0`) and waits until it
/// logs the address it listens on; its stderr keeps being collected.
pub fn spawn_aeon(mut command: std::process::Command) -> SpawnedAeon {
    use std::io::BufRead;
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start aeon");
    let stderr = child.stderr.take().expect("stderr");
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let lines = log.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(addr) = line.split("listening addr=").nth(1) {
                let _ = tx.send(addr.trim().to_string());
            }
            lines.lock().expect("log lines").push(line);
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("aeon logs the address it listens on");
    SpawnedAeon { child, addr, log }
}

/// A ProduceRequest of one batch to one partition (raw protocol tests).
pub fn produce_request(
    topic: &str,
    partition: i32,
    transactional_id: Option<&str>,
    acks: i16,
    batch: Vec<u8>,
) -> aeon::protocol::messages::produce_request::ProduceRequest {
    use aeon::protocol::messages::produce_request::{
        PartitionProduceData, ProduceRequest, TopicProduceData,
    };
    ProduceRequest {
        transactional_id: transactional_id.map(Into::into),
        acks,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: topic.into(),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(batch.into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Sends one batch to one partition (acks=all, Produce v9) and reads the partition's
/// answer.
pub fn produce_raw(
    s: &mut std::net::TcpStream,
    topic: &str,
    transactional_id: Option<&str>,
    batch: Vec<u8>,
) -> aeon::protocol::messages::produce_response::PartitionProduceResponse {
    use aeon::protocol::{ApiKey, Response};
    let req = produce_request(topic, 0, transactional_id, -1, batch);
    write_request(s, 9, 1, req.into());
    let (_, body) = aeon::protocol::frame::decode_response(ApiKey::Produce, 9, read_frame(s))
        .expect("produce response");
    let Response::Produce(r) = body else {
        panic!("not a produce response")
    };
    r.responses[0].partition_responses[0].clone()
}
