//! `e2e`: producers and consumers in one process. Each payload starts with its send
//! time (microseconds since the epoch, big-endian); latency is receipt time minus that.
//! Consumers start at each partition's high watermark, so older messages are not read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Offset;

use crate::consume::{consumer_config, partitions, run_consumers, ConsumeTotals, Stop};
use crate::produce::{ensure_topic, run_producers, ProduceTotals};
use crate::report::{Progress, Report};
use crate::{proc_stats, CommonArgs, ConsumerArgs, E2eCmd, ProducerArgs};

const WATERMARK_TIMEOUT: Duration = Duration::from_secs(10);
const READY_TIMEOUT: Duration = Duration::from_secs(120);

pub fn run(cmd: &E2eCmd) -> anyhow::Result<()> {
    let common = &cmd.common;
    let limit = common.limit_first()?;
    ensure_topic(common)?;
    let consumed = Arc::new(AtomicU64::new(0));
    let progress = Progress::start(common.run_length(), consumed.clone(), common.json);
    let probe = proc_stats::probe(common.broker_pid)?;
    let measured = measure(common, &cmd.producer, &cmd.consumer, consumed);
    progress.finish();
    let (produced, received) = measured?;
    if received.messages < produced.acked {
        eprintln!(
            "received {} of {} acknowledged messages before --idle-timeout",
            received.messages, produced.acked
        );
    }
    let errors = produced.errors + produced.acked.saturating_sub(received.messages);
    let mut report = Report::new(
        "e2e",
        received.messages,
        received.bytes,
        errors,
        received.elapsed,
    )
    .with_latency("send -> receipt, wall clock", &received.latency)
    .with_ack_latency(&produced.latency)
    .with_limit(limit);
    report.broker = proc_stats::finish(probe, produced.bytes + received.bytes)?;
    report.print(common.json)
}

/// Producers and consumers of one run side by side, the consumers starting at each
/// partition's high watermark; `consumed` counts receipts.
pub fn measure(
    common: &CommonArgs,
    producer: &ProducerArgs,
    consumer: &ConsumerArgs,
    consumed: Arc<AtomicU64>,
) -> anyhow::Result<(ProduceTotals, ConsumeTotals)> {
    let config = consumer_config(common, consumer);
    let watermarks: BaseConsumer = config.create().context("creating a consumer")?;
    let starts = partitions(&config, &common.topic)?
        .into_iter()
        .map(|p| {
            let (_, high) = watermarks
                .fetch_watermarks(&common.topic, p, WATERMARK_TIMEOUT)
                .with_context(|| format!("fetching the high watermark of partition {p}"))?;
            Ok((p, Offset::Offset(high)))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    drop(watermarks);

    // Consumers read until they have every acknowledged message (known once the
    // producers are done) or stay idle for --idle-timeout.
    let stop = Stop::after(u64::MAX, None, consumer);
    let consumers_started = consumer.consumers.clamp(1, starts.len().max(1));
    let (produced, received) = std::thread::scope(|s| {
        let consumers = s.spawn(|| {
            run_consumers(
                &config,
                &common.topic,
                starts,
                consumer.consumers,
                &stop,
                consumed,
                true,
            )
        });
        // Messages sent before every consumer fetches would be timed from before it
        // was there.
        if !stop.wait_ready(consumers_started, READY_TIMEOUT) {
            eprintln!("not every consumer was ready after {READY_TIMEOUT:?}; producing anyway");
        }
        let produced = run_producers(common, producer, true, Arc::new(AtomicU64::new(0)));
        let acked = produced.as_ref().map_or(0, |p| p.acked);
        stop.target.store(acked, Ordering::Relaxed);
        let received = consumers
            .join()
            .map_err(|_| anyhow!("the consumers panicked"));
        (produced, received)
    });
    Ok((produced?, received??))
}
