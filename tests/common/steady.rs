//! A steady client: an rdkafka producer and consumer that keep producing and consuming
//! while a test does something else to the broker, and then show they lost nothing.

use super::broker::TestBroker;
use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::Message;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the steady client may wait for its progress and its last messages.
const TIMEOUT: Duration = Duration::from_secs(60);

/// What the steady client saw.
#[derive(Debug, Default)]
struct SteadyReport {
    sent: usize,
    received: Vec<usize>,
    consumer_errors: Vec<String>,
}

/// An rdkafka producer and consumer on topic `steady`, producing and consuming
/// without pause until stopped.
pub struct Steady {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
    received: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    thread: Option<JoinHandle<SteadyReport>>,
}

impl Steady {
    /// Creates topic `steady` (one partition) and starts a message every 5 ms through
    /// it.
    pub fn start(broker: &TestBroker) -> Steady {
        broker.create_topic("steady", 1);
        let producer = broker.producer(&[("linger.ms", "0")]);
        let consumer = broker.consumer("steady", 1);
        let acked = producer.context().acked.clone();
        let failed = producer.context().failed.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicUsize::new(0));
        let (stop2, received2) = (stop.clone(), received.clone());
        let thread = std::thread::spawn(move || {
            let mut report = SteadyReport::default();
            let poll = |consumer: &BaseConsumer, report: &mut SteadyReport| match consumer
                .poll(Duration::from_millis(20))
            {
                Some(Ok(m)) => {
                    let v = std::str::from_utf8(m.payload().unwrap_or_default())
                        .ok()
                        .and_then(|s| s.strip_prefix("steady-"))
                        .and_then(|s| s.parse().ok())
                        .expect("a steady payload");
                    report.received.push(v);
                    received2.fetch_add(1, Ordering::Relaxed);
                }
                Some(Err(e)) => report.consumer_errors.push(e.to_string()),
                None => {}
            };
            let mut last_send = Instant::now() - Duration::from_secs(1);
            while !stop2.load(Ordering::Relaxed) {
                // A message every 5 ms: steady traffic, not a flood.
                if last_send.elapsed() >= Duration::from_millis(5) {
                    last_send = Instant::now();
                    let payload = format!("steady-{}", report.sent);
                    if producer
                        .send(BaseRecord::<[u8], [u8]>::to("steady").payload(payload.as_bytes()))
                        .is_ok()
                    {
                        report.sent += 1;
                    }
                }
                producer.poll(Duration::ZERO);
                poll(&consumer, &mut report);
            }
            producer
                .flush(Duration::from_secs(60))
                .expect("the steady producer flushes");
            let deadline = Instant::now() + TIMEOUT;
            while report.received.len() < report.sent && Instant::now() < deadline {
                poll(&consumer, &mut report);
            }
            report
        });
        Steady {
            stop,
            acked,
            received,
            failed,
            thread: Some(thread),
        }
    }

    /// Waits until `n` more messages than now were acknowledged and consumed.
    pub fn wait_for_progress(&self, n: usize, what: &str) {
        let (a0, r0) = (
            self.acked.load(Ordering::Relaxed),
            self.received.load(Ordering::Relaxed),
        );
        let deadline = Instant::now() + TIMEOUT;
        while self.acked.load(Ordering::Relaxed) < a0 + n
            || self.received.load(Ordering::Relaxed) < r0 + n
        {
            assert!(
                Instant::now() < deadline,
                "the steady client made no progress {what}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Messages acknowledged so far.
    pub fn acked(&self) -> usize {
        self.acked.load(Ordering::Relaxed)
    }

    /// Stops the client, lets it consume what it produced, and checks that it lost
    /// nothing: every message acknowledged, consumed once, in order.
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let report = self
            .thread
            .take()
            .expect("running")
            .join()
            .expect("steady thread");
        assert_eq!(
            self.failed.load(Ordering::Relaxed),
            0,
            "steady deliveries failed"
        );
        assert_eq!(self.acked.load(Ordering::Relaxed), report.sent);
        assert!(
            report.consumer_errors.is_empty(),
            "steady consumer errors: {:?}",
            report.consumer_errors
        );
        assert_eq!(
            report.received.len(),
            report.sent,
            "every acknowledged message consumed"
        );
        let out_of_order = report.received.iter().enumerate().find(|(i, v)| *i != **v);
        assert_eq!(out_of_order, None, "consumed once each, in order");
    }
}
