//! `consume`: consumer threads, each with its own client and a share of the topic's
//! partitions, assigned directly (`assign`, no consumer group, nothing committed).
//! It reads from the beginning unless told where to start (e2e starts at the end).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use hdrhistogram::Histogram;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::produce::{ensure_topic, now_micros};
use crate::report::{new_histogram, Progress, Report, RunLength};
use crate::{proc_stats, CommonArgs, ConsumeCmd, ConsumerArgs};

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(cmd: &ConsumeCmd) -> anyhow::Result<()> {
    let common = &cmd.common;
    let limit = common.limit_first()?;
    ensure_topic(common)?;
    let config = consumer_config(common, &cmd.consumer);
    let partitions = partitions(&config, &common.topic)?;
    let starts = partitions
        .into_iter()
        .map(|p| (p, Offset::Beginning))
        .collect();
    let length = common.run_length();
    let stop = match length {
        RunLength::Messages(n) => Stop::after(n, None, &cmd.consumer),
        RunLength::Duration(d) => Stop::after(u64::MAX, Some(Instant::now() + d), &cmd.consumer),
    };
    let consumed = Arc::new(AtomicU64::new(0));
    let progress = Progress::start(length, consumed.clone(), common.json);
    let probe = proc_stats::probe(common.broker_pid)?;
    let totals = run_consumers(
        &config,
        &common.topic,
        starts,
        cmd.consumer.consumers,
        &stop,
        consumed,
        false,
    );
    progress.finish();
    let totals = totals?;
    let mut report =
        Report::new("consume", totals.messages, totals.bytes, 0, totals.elapsed).with_limit(limit);
    report.broker = proc_stats::finish(probe, totals.bytes)?;
    report.print(common.json)
}

/// A consumer client that never joins a group or commits.
pub fn consumer_config(common: &CommonArgs, args: &ConsumerArgs) -> ClientConfig {
    // assign() needs a group.id (without one librdkafka fails it with "Local: Unknown
    // group"); it is never joined, and nothing is committed.
    let mut own = vec![
        ("group.id", "aeon-bench-unused".to_string()),
        ("enable.auto.commit", "false".to_string()),
        ("enable.auto.offset.store", "false".to_string()),
        ("enable.partition.eof", "false".to_string()),
    ];
    if let Some(ms) = args.fetch_wait_ms {
        own.push(("fetch.wait.max.ms", ms.to_string()));
    }
    common.client_config(&own)
}

/// The topic's partitions, from the broker's metadata.
pub fn partitions(config: &ClientConfig, topic: &str) -> anyhow::Result<Vec<i32>> {
    let consumer: BaseConsumer = config.create().context("creating a consumer")?;
    let metadata = consumer
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .context("fetching metadata")?;
    let t = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| anyhow!("no metadata for {topic}"))?;
    if let Some(err) = t.error() {
        bail!(
            "topic {topic}: {:?}",
            rdkafka::error::RDKafkaErrorCode::from(err)
        );
    }
    let partitions: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    if partitions.is_empty() {
        bail!("topic {topic} has no partitions");
    }
    Ok(partitions)
}

/// When consumers stop: once `target` messages were read in total (the target may be
/// lowered later, as e2e does), at the deadline, or after `idle` without a message.
#[derive(Clone)]
pub struct Stop {
    pub target: Arc<AtomicU64>,
    pub deadline: Option<Instant>,
    pub idle: Duration,
    /// Consumers that have their partitions assigned and have polled once (connected
    /// and fetching): e2e starts its producers only when all are.
    pub ready: Arc<AtomicU64>,
}

impl Stop {
    pub fn after(target: u64, deadline: Option<Instant>, args: &ConsumerArgs) -> Self {
        Self {
            target: Arc::new(AtomicU64::new(target)),
            deadline,
            idle: Duration::from_secs_f64(args.idle_timeout.max(0.1)),
            ready: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Waits until `consumers` consumers are ready, up to `timeout`; whether they are.
    pub fn wait_ready(&self, consumers: usize, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while self.ready.load(Ordering::Relaxed) < consumers as u64 {
            if Instant::now() > until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }
}

pub struct ConsumeTotals {
    pub messages: u64,
    pub bytes: u64,
    /// From the first message received to the last (connection setup excluded).
    pub elapsed: Duration,
    /// Receipt time minus the send time in the payload (e2e only).
    pub latency: Histogram<u64>,
}

/// Runs up to `consumers` threads; partition i goes to thread i mod consumers.
pub fn run_consumers(
    config: &ClientConfig,
    topic: &str,
    starts: Vec<(i32, Offset)>,
    consumers: usize,
    stop: &Stop,
    consumed: Arc<AtomicU64>,
    timestamped: bool,
) -> anyhow::Result<ConsumeTotals> {
    let threads = consumers.clamp(1, starts.len().max(1));
    if consumers > threads {
        eprintln!("only {threads} partitions: running {threads} consumers");
    }
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let job = Job {
                config: config.clone(),
                topic: topic.to_string(),
                starts: starts.iter().skip(i).step_by(threads).copied().collect(),
                stop: stop.clone(),
                consumed: consumed.clone(),
                timestamped,
            };
            std::thread::spawn(move || job.run())
        })
        .collect();
    let mut totals = ConsumeTotals {
        messages: 0,
        bytes: 0,
        elapsed: Duration::ZERO,
        latency: new_histogram(),
    };
    let (mut first, mut last) = (None::<Instant>, None::<Instant>);
    for h in handles {
        let t = h
            .join()
            .map_err(|_| anyhow!("a consumer thread panicked"))??;
        totals.messages += t.messages;
        totals.bytes += t.bytes;
        totals.latency.add(&t.latency)?;
        if let (Some(start), Some(end)) = (t.first, t.last) {
            first = Some(first.map_or(start, |f| f.min(start)));
            last = Some(last.map_or(end, |l| l.max(end)));
        }
    }
    if let (Some(first), Some(last)) = (first, last) {
        totals.elapsed = last.saturating_duration_since(first);
    }
    Ok(totals)
}

struct Job {
    config: ClientConfig,
    topic: String,
    starts: Vec<(i32, Offset)>,
    stop: Stop,
    consumed: Arc<AtomicU64>,
    timestamped: bool,
}

struct JobResult {
    messages: u64,
    bytes: u64,
    latency: Histogram<u64>,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Job {
    fn run(self) -> anyhow::Result<JobResult> {
        let consumer: BaseConsumer = self.config.create().context("creating a consumer")?;
        let mut assignment = TopicPartitionList::new();
        for &(partition, offset) in &self.starts {
            assignment.add_partition_offset(&self.topic, partition, offset)?;
        }
        consumer
            .assign(&assignment)
            .context("assigning partitions")?;
        // The first poll connects and starts the fetches; what it returns is counted
        // below like any message.
        let mut pending = consumer.poll(Duration::from_millis(100));
        self.stop.ready.fetch_add(1, Ordering::Relaxed);
        let mut r = JobResult {
            messages: 0,
            bytes: 0,
            latency: new_histogram(),
            first: None,
            last: None,
        };
        let mut last_seen = Instant::now();
        loop {
            if self.consumed.load(Ordering::Relaxed) >= self.stop.target.load(Ordering::Relaxed)
                || self.stop.deadline.is_some_and(|d| Instant::now() >= d)
                || last_seen.elapsed() >= self.stop.idle
            {
                break;
            }
            let polled = pending
                .take()
                .or_else(|| consumer.poll(Duration::from_millis(100)));
            let message = match polled {
                None => continue,
                Some(m) => m.context("consuming")?,
            };
            let payload = message.payload().unwrap_or_default();
            if self.timestamped {
                if let Some(sent) = payload
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes)
                {
                    r.latency
                        .saturating_record(now_micros().saturating_sub(sent));
                }
            }
            last_seen = Instant::now();
            r.first.get_or_insert(last_seen);
            r.last = Some(last_seen);
            r.messages += 1;
            r.bytes += payload.len() as u64;
            self.consumed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(r)
    }
}
