//! `rebalance`: how long a consumer group takes to reach a stable assignment, for the
//! classic protocol (JoinGroup/SyncGroup, the client's assignor) beside the consumer
//! protocol of KIP-848 (ConsumerGroupHeartbeat, the broker's assignor), on one broker.
//!
//! One run: `members` clients are created, then all subscribe at once to a topic of
//! `--partitions` partitions; the time is taken from that moment until every
//! partition is owned by exactly one member and every member owns at least one
//! (each member's `assignment()` is read after each of its polls). The group id is
//! new for every run, so no run starts from an earlier one's state.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde::Serialize;

use crate::produce::create_topic;
use crate::RebalanceCmd;

const POLL: Duration = Duration::from_millis(20);

#[derive(Serialize)]
struct Row {
    members: usize,
    partitions: i32,
    /// Milliseconds to a stable assignment, median of the runs, per protocol.
    classic_ms: Option<f64>,
    consumer_ms: Option<f64>,
    classic_runs_ms: Vec<f64>,
    consumer_runs_ms: Vec<f64>,
}

pub fn run(cmd: &RebalanceCmd) -> anyhow::Result<()> {
    let mut admin = ClientConfig::new();
    admin.set("bootstrap.servers", &cmd.bootstrap);
    create_topic(&admin, &cmd.topic, cmd.partitions)?;
    let protocols: Vec<&str> = match cmd.protocol.as_str() {
        "both" => vec!["classic", "consumer"],
        one => vec![one],
    };
    let mut rows = Vec::new();
    for &members in &cmd.members {
        let mut row = Row {
            members,
            partitions: cmd.partitions,
            classic_ms: None,
            consumer_ms: None,
            classic_runs_ms: Vec::new(),
            consumer_runs_ms: Vec::new(),
        };
        // Runs alternate between the protocols, so that a slow stretch of a shared
        // machine falls on both.
        for run in 0..cmd.runs {
            for &protocol in &protocols {
                let ms = one_run(cmd, protocol, members, run)?;
                if !cmd.json {
                    eprintln!("{protocol:>8} {members:>4} members, run {run}: {ms:.0} ms");
                }
                match protocol {
                    "classic" => row.classic_runs_ms.push(ms),
                    _ => row.consumer_runs_ms.push(ms),
                }
            }
        }
        row.classic_ms = median(&row.classic_runs_ms);
        row.consumer_ms = median(&row.consumer_runs_ms);
        rows.push(row);
    }
    if cmd.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "| members | partitions | classic ms | consumer ms | consumer / classic |\n|---|---|---|---|---|"
    );
    let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    for r in &rows {
        let ratio = match (r.classic_ms, r.consumer_ms) {
            (Some(c), Some(n)) if c > 0.0 => format!("{:.2}", n / c),
            _ => "-".to_string(),
        };
        println!(
            "| {} | {} | {} | {} | {} |",
            r.members,
            r.partitions,
            cell(r.classic_ms),
            cell(r.consumer_ms),
            ratio
        );
    }
    println!("\n(medians of {} runs)", cmd.runs);
    Ok(())
}

fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// One group of `members` clients from subscribe to a stable assignment; milliseconds.
fn one_run(cmd: &RebalanceCmd, protocol: &str, members: usize, run: usize) -> anyhow::Result<f64> {
    let group = format!(
        "{}-{protocol}-{members}-{run}-{}",
        cmd.topic,
        std::process::id()
    );
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &cmd.bootstrap)
        .set("group.id", &group)
        .set("group.protocol", protocol)
        .set("enable.auto.commit", "false");
    for (k, v) in &cmd.set {
        config.set(k, v);
    }
    let consumers = (0..members)
        .map(|_| config.create::<BaseConsumer>())
        .collect::<Result<Vec<_>, _>>()
        .context("creating the consumers")?;
    let owned: Arc<Mutex<Vec<BTreeSet<i32>>>> =
        Arc::new(Mutex::new(vec![BTreeSet::new(); members]));
    let stop = Arc::new(AtomicBool::new(false));
    // Every member thread and this one: the clock starts once all are ready.
    let start = Arc::new(Barrier::new(members + 1));
    let threads: Vec<_> = consumers
        .into_iter()
        .enumerate()
        .map(|(i, consumer)| {
            let (owned, stop, start) = (owned.clone(), stop.clone(), start.clone());
            let topic = cmd.topic.clone();
            std::thread::spawn(move || -> anyhow::Result<()> {
                start.wait();
                consumer.subscribe(&[&topic])?;
                while !stop.load(Ordering::Relaxed) {
                    if let Some(Err(e)) = consumer.poll(POLL) {
                        eprintln!("member {i}: {e}");
                    }
                    let now: BTreeSet<i32> = consumer
                        .assignment()?
                        .elements()
                        .iter()
                        .map(|e| e.partition())
                        .collect();
                    owned.lock().map_err(|_| anyhow!("poisoned"))?[i] = now;
                }
                consumer.unsubscribe();
                Ok(())
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    let deadline = began + Duration::from_secs_f64(cmd.timeout);
    let stable = loop {
        if stable(
            &owned.lock().map_err(|_| anyhow!("poisoned"))?,
            cmd.partitions,
        ) {
            break Some(began.elapsed());
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join()
            .map_err(|_| anyhow!("a member thread panicked"))??;
    }
    match stable {
        Some(d) => Ok(d.as_secs_f64() * 1000.0),
        None => bail!(
            "{protocol}: {members} members did not reach a stable assignment in {} s",
            cmd.timeout
        ),
    }
}

/// Every partition owned exactly once, and every member owns one when there are
/// enough partitions to go round.
fn stable(owned: &[BTreeSet<i32>], partitions: i32) -> bool {
    let total: usize = owned.iter().map(BTreeSet::len).sum();
    let union: BTreeSet<i32> = owned.iter().flatten().copied().collect();
    let everyone = owned.len() > partitions as usize || owned.iter().all(|o| !o.is_empty());
    total == partitions as usize && union.len() == partitions as usize && everyone
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_needs_every_partition_once_and_every_member() {
        let set = |v: &[i32]| v.iter().copied().collect::<BTreeSet<i32>>();
        assert!(stable(&[set(&[0, 1]), set(&[2, 3])], 4));
        assert!(!stable(&[set(&[0, 1]), set(&[1, 2, 3])], 4), "1 twice");
        assert!(
            !stable(&[set(&[0, 1, 2, 3]), set(&[])], 4),
            "an idle member"
        );
        assert!(!stable(&[set(&[0, 1]), set(&[2])], 4), "3 unowned");
        assert!(
            stable(&[set(&[0]), set(&[])], 1),
            "more members than partitions"
        );
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
