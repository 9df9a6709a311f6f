//! `produce`: producer threads, each with its own client, sending fixed-size payloads as
//! fast as possible or at a paced rate. Latency is send -> delivery acknowledgement,
//! recorded by the delivery callback from the send instant carried as the opaque.
//! Also creates the topic when asked (shared by every mode).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context as _};
use hdrhistogram::Histogram;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use crate::report::{new_histogram, Progress, Report, RunLength};
use crate::{proc_stats, share, CommonArgs, ProduceCmd, ProducerArgs};

const FLUSH_TIMEOUT: Duration = Duration::from_secs(120);

pub fn run(cmd: &ProduceCmd) -> anyhow::Result<()> {
    let common = &cmd.common;
    let limit = common.limit_first()?;
    ensure_topic(common)?;
    let done = Arc::new(AtomicU64::new(0));
    let progress = Progress::start(common.run_length(), done.clone(), common.json);
    let probe = proc_stats::probe(common.broker_pid)?;
    let totals = run_producers(common, &cmd.producer, false, done);
    progress.finish();
    let totals = totals?;
    let mut report = Report::new(
        "produce",
        totals.acked,
        totals.bytes,
        totals.errors,
        totals.elapsed,
    )
    .with_latency("send -> delivery ack", &totals.latency)
    .with_limit(limit);
    report.broker = proc_stats::finish(probe, totals.bytes)?;
    report.print(common.json)
}

/// What the producer threads achieved together.
pub struct ProduceTotals {
    pub acked: u64,
    pub bytes: u64,
    pub errors: u64,
    /// From the first send to the last acknowledgement.
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
}

/// Runs `--producers` threads to completion. With `stamp`, each payload starts with the
/// send time in microseconds since the epoch (big-endian u64). `done` counts deliveries.
pub fn run_producers(
    common: &CommonArgs,
    args: &ProducerArgs,
    stamp: bool,
    done: Arc<AtomicU64>,
) -> anyhow::Result<ProduceTotals> {
    if stamp && common.size < 8 {
        bail!("--size must be at least 8 to carry the send timestamp");
    }
    let threads = args.producers.max(1);
    let mut own = vec![
        ("acks", args.acks.clone()),
        ("compression.type", args.compression.clone()),
    ];
    if let Some(ms) = args.linger_ms {
        own.push(("linger.ms", ms.to_string()));
    }
    if let Some(bytes) = args.batch_size {
        own.push(("batch.size", bytes.to_string()));
    }
    let config = common.client_config(&own);
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let length = match common.run_length() {
                RunLength::Messages(n) => RunLength::Messages(share(n, threads, i)),
                d => d,
            };
            let job = Job {
                config: config.clone(),
                topic: common.topic.clone(),
                length,
                rate: args.rate.map(|r| r / threads as f64),
                spread: args
                    .spread
                    .then(|| Spread::new(common.partitions, threads, i)),
                size: common.size,
                stamp,
                done: done.clone(),
            };
            std::thread::spawn(move || job.run())
        })
        .collect();
    let mut totals = ProduceTotals {
        acked: 0,
        bytes: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latency: new_histogram(),
    };
    let (mut first, mut last) = (None::<Instant>, None::<Instant>);
    for h in handles {
        let t = h
            .join()
            .map_err(|_| anyhow!("a producer thread panicked"))??;
        totals.acked += t.ctx.acked.load(Ordering::Relaxed);
        totals.bytes += t.ctx.bytes.load(Ordering::Relaxed);
        totals.errors += t.ctx.errors.load(Ordering::Relaxed);
        totals
            .latency
            .add(&*t.ctx.latency.lock().expect("latency lock"))?;
        first = Some(first.map_or(t.start, |f| f.min(t.start)));
        last = Some(last.map_or(t.end, |l| l.max(t.end)));
    }
    if let (Some(first), Some(last)) = (first, last) {
        totals.elapsed = last - first;
    }
    Ok(totals)
}

/// Records each delivery: the opaque is the instant the message was meant to be sent.
pub struct DeliveryStats {
    latency: Mutex<Histogram<u64>>,
    acked: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    done: Arc<AtomicU64>,
}

impl ClientContext for DeliveryStats {}

impl ProducerContext for DeliveryStats {
    type DeliveryOpaque = Box<Instant>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent: Box<Instant>) {
        let micros = sent.elapsed().as_micros().try_into().unwrap_or(u64::MAX);
        match result {
            Ok(message) => {
                self.latency
                    .lock()
                    .expect("latency lock")
                    .saturating_record(micros);
                self.acked.fetch_add(1, Ordering::Relaxed);
                self.bytes
                    .fetch_add(message.payload_len() as u64, Ordering::Relaxed);
            }
            Err(_) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.done.fetch_add(1, Ordering::Relaxed);
    }
}

struct Job {
    config: ClientConfig,
    topic: String,
    length: RunLength,
    rate: Option<f64>,
    spread: Option<Spread>,
    size: usize,
    stamp: bool,
    done: Arc<AtomicU64>,
}

/// Round robin over the partitions, interleaved between the producer threads: thread
/// `i` of `t` sends its `n`th message to partition `(n * t + i) mod partitions`.
#[derive(Clone, Copy)]
struct Spread {
    partitions: u64,
    threads: u64,
    index: u64,
}

impl Spread {
    fn new(partitions: i32, threads: usize, index: usize) -> Self {
        Self {
            partitions: u64::try_from(partitions).unwrap_or(1).max(1),
            threads: threads as u64,
            index: index as u64,
        }
    }

    fn partition(self, sent: u64) -> i32 {
        // Below `partitions`, which came from an i32.
        ((sent * self.threads + self.index) % self.partitions) as i32
    }
}

struct JobResult {
    ctx: Arc<DeliveryStats>,
    start: Instant,
    end: Instant,
}

impl Job {
    fn run(self) -> anyhow::Result<JobResult> {
        let stats = DeliveryStats {
            latency: Mutex::new(new_histogram()),
            acked: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            done: self.done.clone(),
        };
        let producer: ThreadedProducer<DeliveryStats> = self
            .config
            .create_with_context(stats)
            .context("creating a producer")?;
        let mut payload = payload(self.size);
        let start = Instant::now();
        let mut sent = 0u64;
        loop {
            match self.length {
                RunLength::Messages(n) if sent >= n => break,
                RunLength::Duration(d) if start.elapsed() >= d => break,
                _ => {}
            }
            if let Some(rate) = self.rate.filter(|r| *r > 0.0) {
                let due = start + Duration::from_secs_f64(sent as f64 / rate);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            if self.stamp {
                payload[..8].copy_from_slice(&now_micros().to_be_bytes());
            }
            // The latency clock starts here, so time waiting for queue space counts.
            let mut record = BaseRecord::with_opaque_to(&self.topic, Box::new(Instant::now()))
                .payload(&payload[..]);
            if let Some(spread) = self.spread {
                record = record.partition(spread.partition(sent));
            }
            loop {
                match producer.send::<[u8], [u8]>(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    Err((e, _)) => return Err(e).context("sending"),
                }
            }
            sent += 1;
        }
        producer
            .flush(FLUSH_TIMEOUT)
            .context("flushing the producer")?;
        let end = Instant::now();
        Ok(JobResult {
            ctx: producer.context().clone(),
            start,
            end,
        })
    }
}

/// Wall-clock microseconds since the Unix epoch.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A pseudo-random (incompressible) payload, the same on every run.
pub fn payload(size: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Creates the topic (replication factor 1) when `--create-topic` was given.
pub fn ensure_topic(common: &CommonArgs) -> anyhow::Result<()> {
    if !common.create_topic {
        return Ok(());
    }
    create_topic(&common.client_config(&[]), &common.topic, common.partitions)
}

/// Creates `name` with `partitions` partitions (replication factor 1); an existing
/// topic is fine.
pub fn create_topic(config: &ClientConfig, name: &str, partitions: i32) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        config.create().context("creating an admin client")?;
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in block_on(admin.create_topics([&topic], &options)).context("creating the topic")? {
        match result {
            Ok(_) => {}
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                eprintln!("topic {name} already exists")
            }
            Err((name, code)) => bail!("creating topic {name}: {code}"),
        }
    }
    Ok(())
}

/// Drives one future on this thread; the admin client completes it from its own thread.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_deterministic_and_not_constant() {
        let p = payload(100);
        assert_eq!(p.len(), 100);
        assert_eq!(p, payload(100));
        assert!(p.iter().any(|&b| b != p[0]));
    }

    #[test]
    fn spread_covers_every_partition_once_per_round_across_threads() {
        let threads: Vec<Spread> = (0..3).map(|i| Spread::new(7, 3, i)).collect();
        let mut seen: Vec<i32> = (0..7u64)
            .flat_map(|n| threads.iter().map(move |t| t.partition(n)))
            .take(7)
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..7).collect::<Vec<_>>());
        assert_eq!(Spread::new(0, 1, 0).partition(5), 0);
    }

    #[test]
    fn block_on_completes_a_future_woken_from_another_thread() {
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = flag.clone();
        let future = std::future::poll_fn(move |cx| {
            if seen.load(Ordering::SeqCst) {
                return Poll::Ready(7);
            }
            let (waker, set) = (cx.waker().clone(), seen.clone());
            std::thread::spawn(move || {
                set.store(true, Ordering::SeqCst);
                waker.wake();
            });
            Poll::Pending
        });
        assert_eq!(block_on(future), 7);
        assert!(flag.load(Ordering::SeqCst));
    }
}
