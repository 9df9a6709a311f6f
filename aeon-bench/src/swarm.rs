//! Many clients on one thread, over [`crate::wire`]: what the clients and groups curves
//! run, so that a thousand producers, consumers or group members cost the tool a task
//! each, not a librdkafka instance with threads of its own.
//!
//! - [`traffic`]: N producer and N consumer connections move the same messages through
//!   one topic (produce as fast as they go, read back from the start), then run
//!   end-to-end latency at a fixed total rate (acks=all, each record stamped with the
//!   time it was due, so a client falling behind shows as latency rather than hiding it).
//! - [`groups`] (`swarm/groups.rs`): N consumer groups of one member each, with the classic protocol
//!   (JoinGroup, SyncGroup, Heartbeat) or the consumer protocol (ConsumerGroupHeartbeat,
//!   KIP-848): time until every member owns the topic's partitions, then synchronous
//!   offset commits by every member.

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use tokio::sync::watch;

mod groups;

pub use groups::{groups, GroupsPlan, Protocol};

use crate::proc_stats::BrokerProbe;
use crate::report::new_histogram;
use crate::wire::{self, check, Wire};

/// Bytes of one produce request's batch in the throughput phase (a producer's linger).
const BATCH_BYTES: usize = 64 << 10;

/// What moving messages through the broker with [`traffic`] measured.
pub struct Moved {
    pub produced_bytes: u64,
    pub produce_elapsed: Duration,
    pub produce_cpu_s_per_gb: f64,
    pub consumed_bytes: u64,
    pub consume_elapsed: Duration,
    /// Due time to receipt, microseconds.
    pub latency: Histogram<u64>,
}

/// What [`traffic`] is asked to do.
pub struct TrafficPlan<'a> {
    pub bootstrap: &'a str,
    pub broker_pid: u32,
    pub topic: &'a str,
    pub partitions: i32,
    pub clients: usize,
    pub messages: u64,
    pub size: usize,
    /// Total messages per second of the latency phase.
    pub rate: f64,
    pub latency_secs: f64,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// The partitions client `i` of `n` works on: every n-th, from its own.
fn share(i: usize, n: usize, partitions: i32) -> Vec<i32> {
    (0..partitions)
        .filter(|p| usize::try_from(*p).is_ok_and(|p| p % n == i % n))
        .collect()
}

async fn connect_all(bootstrap: &str, n: usize) -> anyhow::Result<Vec<Wire>> {
    let mut wires = Vec::with_capacity(n);
    for _ in 0..n {
        wires.push(Wire::connect(bootstrap).await?);
    }
    Ok(wires)
}

/// Waits for every task and returns the first error.
async fn join<T>(tasks: Vec<tokio::task::JoinHandle<anyhow::Result<T>>>) -> anyhow::Result<Vec<T>> {
    let mut out = Vec::with_capacity(tasks.len());
    let mut first_error = None;
    for task in tasks {
        match task
            .await
            .map_err(|e| anyhow!("a client task failed: {e}"))
            .and_then(|r| r)
        {
            Ok(v) => out.push(v),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(out), Err)
}

pub fn traffic(plan: &TrafficPlan<'_>) -> anyhow::Result<Moved> {
    let local = tokio::task::LocalSet::new();
    runtime()?.block_on(local.run_until(traffic_in(plan)))
}

async fn traffic_in(plan: &TrafficPlan<'_>) -> anyhow::Result<Moved> {
    {
        let n = plan.clients.max(1);
        let producers = connect_all(plan.bootstrap, n).await?;
        let consumers = connect_all(plan.bootstrap, n).await?;
        // One record to every partition first: what is measured is the steady state,
        // not the first touch of each partition's files.
        let mut first = Wire::connect(plan.bootstrap).await?;
        let one = Bytes::from(wire::batch(1, plan.size, 0));
        for p in 0..plan.partitions {
            wire::produce(&mut first, plan.topic, p, 1, one.clone()).await?;
        }
        let per_batch = (BATCH_BYTES / plan.size.max(1)).max(1);
        let probe = BrokerProbe::start(plan.broker_pid)?;
        let began = Instant::now();
        let tasks = producers
            .into_iter()
            .enumerate()
            .map(|(i, mut w)| {
                let mine =
                    plan.messages / n as u64 + u64::from((i as u64) < plan.messages % n as u64);
                let partitions = share(i, n, plan.partitions);
                let (topic, size) = (plan.topic.to_string(), plan.size);
                tokio::task::spawn_local(async move {
                    let full = Bytes::from(wire::batch(per_batch, size, 0));
                    let mut left = mine;
                    let mut k = 0;
                    while left > 0 {
                        let count = left.min(per_batch as u64);
                        let batch = if count == per_batch as u64 {
                            full.clone()
                        } else {
                            Bytes::from(wire::batch(count as usize, size, 0))
                        };
                        let p = partitions[k % partitions.len().max(1)];
                        wire::produce(&mut w, &topic, p, 1, batch).await?;
                        left -= count;
                        k += 1;
                    }
                    anyhow::Ok((w, mine))
                })
            })
            .collect();
        let done = join(tasks).await?;
        let produced: u64 = done.iter().map(|d| d.1).sum();
        let producers: Vec<Wire> = done.into_iter().map(|d| d.0).collect();
        let produce_elapsed = began.elapsed();
        let produced_bytes = produced * plan.size as u64;
        let cost = probe.finish(produced_bytes)?;

        // Read everything back from the start; each consumer ends at the high
        // watermarks of its partitions.
        let began = Instant::now();
        let tasks = consumers
            .into_iter()
            .enumerate()
            .map(|(i, mut w)| {
                let topic = plan.topic.to_string();
                let mut offsets: Vec<(i32, i64)> = share(i, n, plan.partitions)
                    .into_iter()
                    .map(|p| (p, 0))
                    .collect();
                tokio::task::spawn_local(async move {
                    let mut records = 0;
                    let mut ends = Vec::with_capacity(offsets.len());
                    while !offsets.is_empty() {
                        let response = wire::fetch(&mut w, &topic, &offsets, 500).await?;
                        let mut done = Vec::new();
                        for part in response.responses.iter().flat_map(|t| &t.partitions) {
                            check(part.error_code, "fetch")?;
                            let Some(slot) =
                                offsets.iter_mut().find(|o| o.0 == part.partition_index)
                            else {
                                continue;
                            };
                            let (count, next) = wire::read_records(
                                part.records.as_deref().unwrap_or_default(),
                                |_| (),
                            )?;
                            records += count;
                            if let Some(next) = next {
                                slot.1 = next;
                            }
                            if slot.1 >= part.high_watermark {
                                done.push(slot.0);
                                ends.push(*slot);
                            }
                        }
                        offsets.retain(|o| !done.contains(&o.0));
                    }
                    anyhow::Ok(Reader {
                        wire: w,
                        offsets: ends,
                        records,
                    })
                })
            })
            .collect();
        let readers = join(tasks).await?;
        let consume_elapsed = began.elapsed();
        let consumed_records: u64 = readers.iter().map(|r| r.records).sum();
        let latency = latency(plan, producers, readers).await?;
        Ok(Moved {
            produced_bytes,
            produce_elapsed,
            produce_cpu_s_per_gb: cost.cpu_seconds_per_gb,
            consumed_bytes: consumed_records * plan.size as u64,
            consume_elapsed,
            latency,
        })
    }
}

/// A consumer connection and where it has read to.
struct Reader {
    wire: Wire,
    offsets: Vec<(i32, i64)>,
    records: u64,
}

/// The latency phase: each producer sends its share of `plan.rate` on its own
/// connection (what was due and not yet sent goes in one batch), consumers wait on
/// long-polling fetches from the end of each partition.
async fn latency(
    plan: &TrafficPlan<'_>,
    producers: Vec<Wire>,
    consumers: Vec<Reader>,
) -> anyhow::Result<Histogram<u64>> {
    let n = producers.len();
    let epoch = Instant::now();
    let run = Duration::from_secs_f64(plan.latency_secs);
    let sent = Rc::new(AtomicU64::new(0));
    let received = Rc::new(AtomicU64::new(0));
    let (stop_tx, stop) = watch::channel(false);
    let mut sending = Vec::with_capacity(n);
    for (i, mut w) in producers.into_iter().enumerate() {
        let partitions = share(i, n, plan.partitions);
        let (topic, size, sent) = (plan.topic.to_string(), plan.size, sent.clone());
        // This producer's interval between messages.
        let every = Duration::from_secs_f64(n as f64 / plan.rate.max(1e-3));
        sending.push(tokio::task::spawn_local(async move {
            // Producers start spread over one interval, not all at once.
            let mut due = every.mul_f64(i as f64 / n as f64);
            let mut k = 0usize;
            while due < run {
                let now = epoch.elapsed();
                if due > now {
                    tokio::time::sleep(due - now).await;
                }
                // Everything due by now, in one batch, each record stamped with its due time.
                let now = epoch.elapsed();
                let mut builder = aeon::protocol::records::RecordBatchBuilder::new(0, 0);
                let mut count = 0i32;
                let mut value = vec![0u8; size.max(8)];
                while due <= now && due < run && count < 1000 {
                    value[..8].copy_from_slice(&(due.as_micros() as u64).to_be_bytes());
                    builder = builder.record(
                        aeon::protocol::records::RecordSpec::new(None, Some(&value))
                            .offset_delta(count),
                    );
                    count += 1;
                    due += every;
                }
                if count == 0 {
                    continue;
                }
                let p = partitions[k % partitions.len().max(1)];
                k += 1;
                wire::produce(&mut w, &topic, p, -1, Bytes::from(builder.build())).await?;
                sent.fetch_add(count as u64, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    let mut readers = Vec::with_capacity(n);
    for reader in consumers {
        let topic = plan.topic.to_string();
        let (received, mut stop) = (received.clone(), stop.clone());
        // From where the read-back ended: the end of each partition.
        let Reader {
            wire: mut w,
            mut offsets,
            ..
        } = reader;
        readers.push(tokio::task::spawn_local(async move {
            let mut histogram = new_histogram();
            loop {
                let fetched = tokio::select! {
                    r = wire::fetch(&mut w, &topic, &offsets, 200) => r?,
                    _ = stop.wait_for(|s| *s) => break,
                };
                let now = epoch.elapsed().as_micros() as u64;
                for part in fetched.responses.iter().flat_map(|t| &t.partitions) {
                    check(part.error_code, "fetch")?;
                    let Some(slot) = offsets.iter_mut().find(|o| o.0 == part.partition_index)
                    else {
                        continue;
                    };
                    let (count, next) =
                        wire::read_records(part.records.as_deref().unwrap_or_default(), |due| {
                            let _ = histogram.record(now.saturating_sub(due).max(1));
                        })?;
                    received.fetch_add(count, Ordering::Relaxed);
                    if let Some(next) = next {
                        slot.1 = next;
                    }
                }
            }
            anyhow::Ok(histogram)
        }));
    }
    join(sending).await?;
    // Until every message sent arrived, or nothing arrived for 10 s.
    let mut last = (received.load(Ordering::Relaxed), Instant::now());
    while received.load(Ordering::Relaxed) < sent.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = received.load(Ordering::Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(10) {
            bail!(
                "{} of {} messages arrived",
                now,
                sent.load(Ordering::Relaxed)
            );
        }
    }
    stop_tx.send_replace(true);
    let mut histogram = new_histogram();
    for h in join(readers).await? {
        histogram.add(h)?;
    }
    Ok(histogram)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_share_the_partitions_without_overlap() {
        let all: Vec<i32> = (0..5).flat_map(|i| share(i, 5, 12)).collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..12).collect::<Vec<_>>());
        assert_eq!(share(1, 5, 12), [1, 6, 11]);
        assert_eq!(share(0, 1, 3), [0, 1, 2]);
    }
}
