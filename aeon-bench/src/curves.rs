//! `curves`: how the broker's cost grows with the work, each curve measured in one run
//! on fresh brokers started by the tool (an `aeon` binary, real processes):
//!
//! - partitions: one topic of N partitions, the same messages spread over them round
//!   robin; produce and consume throughput, end-to-end p99 at a fixed rate, the broker's
//!   peak RSS and open files, and its startup time after a clean stop and after kill -9;
//! - clients: N producer and N consumer connections sharing the same messages;
//!   throughput, p99 at a fixed total rate, RSS;
//! - groups: N consumer groups of one member each, for the classic protocol and the
//!   consumer protocol (KIP-848): time until every group owns its partitions, offset
//!   commits per second, RSS;
//! - data at rest: a topic of 1,000 partitions holding N GB (sparse files: a batch
//!   header every MiB, zeros between), startup time clean and after kill -9.
//!
//! The partitions curve runs librdkafka clients; the clients and groups curves run the
//! tool's own protocol clients ([`crate::swarm`], a task per connection on one thread),
//! since a thousand librdkafka instances, each with threads of its own, measure the tool
//! rather than the broker.
//!
//! The result is the JSON that `aeon-bench plot` draws.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::config::ClientConfig;
use rdkafka::Offset;

use crate::at_rest;
use crate::broker::{BrokerProcess, BrokerSpec, PeakSampler, Peaks};
use crate::consume::{consumer_config, run_consumers, Stop};
use crate::e2e;
use crate::plot::{Curve, Curves, Series};
use crate::proc_stats::BrokerProbe;
use crate::produce::{create_topic, run_producers};
use crate::report::LatencyMs;
use crate::swarm::{self, GroupsPlan, Protocol, TrafficPlan};
use crate::{CommonArgs, ConsumerArgs, CurvesCmd, ProducerArgs};

const TOPIC: &str = "curve";
/// Partitions of the topic the client and group curves use.
const CLIENT_PARTITIONS: i32 = 1000;
const GROUP_PARTITIONS: i32 = 10;
const AT_REST_PARTITIONS: i32 = 1000;

pub fn run(cmd: &CurvesCmd) -> anyhow::Result<()> {
    // Brokers of their own: an operations listener on any free port, so that none
    // collides with a broker already running here.
    let mut settings = vec![("metrics.listener".to_string(), "127.0.0.1:0".to_string())];
    settings.extend(cmd.broker_set.iter().cloned());
    let spec = BrokerSpec {
        binary: cmd.aeon.clone(),
        settings,
    };
    // Some curves only: the others of an existing file are kept, and the new ones say
    // when they were measured.
    let mut curves = match std::fs::read_to_string(&cmd.out) {
        Ok(json) if !cmd.only.is_empty() => {
            serde_json::from_str(&json).with_context(|| format!("reading {}", cmd.out.display()))?
        }
        _ => Curves {
            sitting: sitting(),
            curves: Vec::new(),
        },
    };
    let apart = !curves.curves.is_empty();
    let wanted = |name: &str| cmd.only.is_empty() || cmd.only.iter().any(|o| o == name);
    let measures: [(&str, CurveFn); 4] = [
        ("partitions", partitions_curve),
        ("clients", clients_curve),
        ("groups", groups_curve),
        ("at-rest", at_rest_curve),
    ];
    for (name, measure) in measures {
        if !wanted(name) {
            continue;
        }
        let mut curve = measure(cmd, &spec)?;
        if apart {
            curve.sitting = Some(sitting());
        }
        match curves.curves.iter_mut().find(|c| c.name == curve.name) {
            Some(old) => *old = curve,
            None => curves.curves.push(curve),
        }
        save(cmd, &curves)?;
    }
    Ok(())
}

type CurveFn = fn(&CurvesCmd, &BrokerSpec) -> anyhow::Result<Curve>;

fn save(cmd: &CurvesCmd, curves: &Curves) -> anyhow::Result<()> {
    std::fs::write(&cmd.out, serde_json::to_string_pretty(curves)?)
        .with_context(|| format!("writing {}", cmd.out.display()))
}

fn sitting() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    format!(
        "{}, {cores} cores, load average at the start {}",
        civil_date(days),
        load.split_whitespace().next().unwrap_or("?")
    )
}

/// The UTC date (YYYY-MM-DD) `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_date(days: u64) -> String {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// A fresh data directory for one point.
fn point_dir(cmd: &CurvesCmd, curve: &str, x: u64) -> anyhow::Result<PathBuf> {
    let dir = cmd.dir.join(format!("{curve}-{x}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    Ok(dir)
}

/// Series filled point by point.
struct Table {
    series: Vec<Series>,
}

impl Table {
    fn new(columns: &[(&str, &str)]) -> Self {
        Self {
            series: columns
                .iter()
                .map(|(name, unit)| Series {
                    name: name.to_string(),
                    unit: unit.to_string(),
                    values: Vec::new(),
                })
                .collect(),
        }
    }

    fn push(&mut self, row: Vec<Option<f64>>) {
        for (series, value) in self.series.iter_mut().zip(row) {
            series.values.push(value);
        }
    }

    fn curve(self, name: &str, title: &str, x_label: &str, x: &[u64]) -> Curve {
        Curve {
            name: name.to_string(),
            title: title.to_string(),
            x_label: x_label.to_string(),
            x: x.iter().map(|&v| v as f64).collect(),
            series: self.series,
            sitting: None,
        }
    }
}

fn common(bootstrap: &str, partitions: i32, messages: u64, size: usize) -> CommonArgs {
    CommonArgs {
        bootstrap: bootstrap.to_string(),
        topic: TOPIC.to_string(),
        partitions,
        create_topic: false,
        messages: Some(messages),
        duration: None,
        size,
        json: true,
        set: Vec::new(),
        broker_pid: None,
        limit: false,
        limit_dir: None,
    }
}

fn producer_args(acks: &str, linger_ms: u64, producers: usize, rate: Option<f64>) -> ProducerArgs {
    ProducerArgs {
        acks: acks.to_string(),
        linger_ms: Some(linger_ms),
        batch_size: None,
        compression: "none".to_string(),
        producers,
        rate,
        spread: true,
    }
}

fn consumer_args(consumers: usize, fetch_wait_ms: Option<u64>) -> ConsumerArgs {
    ConsumerArgs {
        consumers,
        fetch_wait_ms,
        idle_timeout: 10.0,
    }
}

/// Throughput in MB/s (10^6 bytes of payload).
fn mb_per_s(bytes: u64, elapsed: Duration) -> Option<f64> {
    let secs = elapsed.as_secs_f64();
    (secs > 0.0).then(|| bytes as f64 / 1e6 / secs)
}

/// What moving the same messages through a broker measured.
struct Traffic {
    produce_mb_s: Option<f64>,
    produce_cpu_s_per_gb: Option<f64>,
    consume_mb_s: Option<f64>,
    e2e: Option<LatencyMs>,
}

/// Produces `cmd.messages` as fast as the clients go (acks=1, linger 5 ms), reads them
/// back from the start, then runs `cmd.latency_secs` of end-to-end latency at
/// `cmd.rate` (acks=all, linger 0).
fn traffic(
    cmd: &CurvesCmd,
    broker: &BrokerProcess,
    partitions: i32,
    clients: usize,
) -> anyhow::Result<Traffic> {
    let bootstrap = broker.bootstrap();
    let pid = broker.pid()?;
    // One message to every partition first: what is measured is the steady state, not
    // the first touch of each partition's files.
    let warm = run_producers(
        &common(&bootstrap, partitions, u64::try_from(partitions)?, cmd.size),
        &producer_args("1", 5, 1, None),
        false,
        Arc::new(AtomicU64::new(0)),
    )?;
    let common = common(&bootstrap, partitions, cmd.messages, cmd.size);
    let probe = BrokerProbe::start(pid)?;
    let produced = run_producers(
        &common,
        &producer_args("1", 5, clients, None),
        false,
        Arc::new(AtomicU64::new(0)),
    )?;
    let cost = probe.finish(produced.bytes)?;
    let config = consumer_config(&common, &consumer_args(clients, None));
    let starts = (0..partitions).map(|p| (p, Offset::Beginning)).collect();
    let stop = Stop::after(
        warm.acked + produced.acked,
        None,
        &consumer_args(clients, None),
    );
    let consumed = run_consumers(
        &config,
        TOPIC,
        starts,
        clients,
        &stop,
        Arc::new(AtomicU64::new(0)),
        false,
    )?;
    let mut latency = common;
    latency.messages = None;
    latency.duration = Some(cmd.latency_secs);
    let (_, received) = e2e::measure(
        &latency,
        &producer_args("all", 0, clients, Some(cmd.rate)),
        &consumer_args(clients, Some(10)),
        Arc::new(AtomicU64::new(0)),
    )?;
    Ok(Traffic {
        produce_mb_s: mb_per_s(produced.bytes, produced.elapsed),
        produce_cpu_s_per_gb: Some(cost.cpu_seconds_per_gb),
        consume_mb_s: mb_per_s(consumed.bytes, consumed.elapsed),
        e2e: LatencyMs::from_histogram(&received.latency),
    })
}

fn mb(bytes: u64) -> Option<f64> {
    Some(bytes as f64 / 1e6)
}

fn secs(d: Duration) -> Option<f64> {
    Some(d.as_secs_f64())
}

/// A point that failed is logged and left empty, so one failure keeps the rest.
fn or_gap<T>(what: &str, result: anyhow::Result<T>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            eprintln!("{what}: {e:#}");
            None
        }
    }
}

/// What a curve is: its names and columns; [`Shape::measure`] takes its points.
struct Shape<'a> {
    name: &'a str,
    title: &'a str,
    x_label: &'a str,
    columns: &'a [(&'a str, &'a str)],
}

impl Shape<'_> {
    /// One row per x from `point` (a row of `columns.len()` values).
    fn measure(
        &self,
        xs: &[u64],
        mut point: impl FnMut(u64) -> anyhow::Result<Vec<Option<f64>>>,
    ) -> Curve {
        let mut table = Table::new(self.columns);
        for &x in xs {
            eprintln!("{}: {x}", self.name);
            let row = or_gap(&format!("{} {x}", self.name), point(x));
            table.push(row.unwrap_or_else(|| vec![None; self.columns.len()]));
        }
        table.curve(self.name, self.title, self.x_label, xs)
    }
}

/// The columns of [`Traffic::row`].
const TRAFFIC_COLUMNS: [(&str, &str); 8] = [
    ("produce", "MB/s"),
    ("produce, broker CPU", "s/GB"),
    ("consume", "MB/s"),
    ("end-to-end p99", "ms"),
    ("end-to-end p99.9", "ms"),
    ("peak RSS", "MB"),
    ("peak RSS, anonymous", "MB"),
    ("peak open files", "files"),
];

impl Traffic {
    fn row(&self, peaks: &Peaks) -> Vec<Option<f64>> {
        vec![
            self.produce_mb_s,
            self.produce_cpu_s_per_gb,
            self.consume_mb_s,
            self.e2e.as_ref().map(|l| l.p99),
            self.e2e.as_ref().map(|l| l.p99_9),
            mb(peaks.rss_bytes),
            mb(peaks.anon_bytes),
            Some(peaks.open_files as f64),
        ]
    }
}

fn partitions_curve(cmd: &CurvesCmd, spec: &BrokerSpec) -> anyhow::Result<Curve> {
    let mut columns = vec![("create topic", "s")];
    columns.extend(TRAFFIC_COLUMNS);
    columns.extend([
        ("startup after a clean stop", "s"),
        ("startup after kill -9", "s"),
    ]);
    let shape = Shape {
        name: "partitions",
        title: "Cost as partitions grow",
        x_label: "partitions",
        columns: &columns,
    };
    Ok(shape.measure(&cmd.partitions, |n| partitions_point(cmd, spec, n)))
}

fn partitions_point(
    cmd: &CurvesCmd,
    spec: &BrokerSpec,
    n: u64,
) -> anyhow::Result<Vec<Option<f64>>> {
    let partitions = i32::try_from(n).context("partitions")?;
    let dir = point_dir(cmd, "partitions", n)?;
    let (mut broker, _) = BrokerProcess::start(spec, &dir)?;
    let sampler = PeakSampler::start(broker.pid()?);
    let admin = admin_config(&broker.bootstrap());
    let began = Instant::now();
    create_topic(&admin, TOPIC, partitions)?;
    let create = began.elapsed();
    let traffic = traffic(cmd, &broker, partitions, 1)?;
    let peaks = sampler.finish();
    let clean = broker.restart_clean()?;
    let killed = broker.restart_killed()?;
    broker.stop()?;
    std::fs::remove_dir_all(&dir).ok();
    let mut row = vec![secs(create)];
    row.extend(traffic.row(&peaks));
    row.extend([secs(clean), secs(killed)]);
    Ok(row)
}

fn admin_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    config
}

fn clients_curve(cmd: &CurvesCmd, spec: &BrokerSpec) -> anyhow::Result<Curve> {
    let title = format!(
        "Cost as clients grow (N producers and N consumers, a topic of {CLIENT_PARTITIONS} partitions)"
    );
    let shape = Shape {
        name: "clients",
        title: &title,
        x_label: "producers (and as many consumers)",
        columns: &TRAFFIC_COLUMNS,
    };
    Ok(shape.measure(&cmd.clients, |n| clients_point(cmd, spec, n)))
}

fn clients_point(cmd: &CurvesCmd, spec: &BrokerSpec, n: u64) -> anyhow::Result<Vec<Option<f64>>> {
    let clients = usize::try_from(n)?;
    let dir = point_dir(cmd, "clients", n)?;
    // Every connection comes from 127.0.0.1: Aeon's cap per address (1,000 by default)
    // is raised to what the point opens.
    let mut spec = spec.clone();
    spec.settings
        .push(("max.connections.per.ip".into(), (2 * n + 10).to_string()));
    let (mut broker, _) = BrokerProcess::start(&spec, &dir)?;
    let sampler = PeakSampler::start(broker.pid()?);
    let bootstrap = broker.bootstrap();
    create_topic(&admin_config(&bootstrap), TOPIC, CLIENT_PARTITIONS)?;
    let moved = swarm::traffic(&TrafficPlan {
        bootstrap: &bootstrap,
        broker_pid: broker.pid()?,
        topic: TOPIC,
        partitions: CLIENT_PARTITIONS,
        clients,
        messages: cmd.messages,
        size: cmd.size,
        rate: cmd.rate,
        latency_secs: cmd.latency_secs,
    })?;
    let traffic = Traffic {
        produce_mb_s: mb_per_s(moved.produced_bytes, moved.produce_elapsed),
        produce_cpu_s_per_gb: Some(moved.produce_cpu_s_per_gb),
        consume_mb_s: mb_per_s(moved.consumed_bytes, moved.consume_elapsed),
        e2e: LatencyMs::from_histogram(&moved.latency),
    };
    let peaks = sampler.finish();
    broker.stop()?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(traffic.row(&peaks))
}

fn groups_curve(cmd: &CurvesCmd, spec: &BrokerSpec) -> anyhow::Result<Curve> {
    let title = format!(
        "Cost as consumer groups grow (one member each, a topic of {GROUP_PARTITIONS} partitions)"
    );
    let shape = Shape {
        name: "groups",
        title: &title,
        x_label: "consumer groups",
        columns: &[
            ("classic: all groups assigned", "s"),
            ("consumer protocol: all groups assigned", "s"),
            ("classic: offset commits", "commits/s"),
            ("consumer protocol: offset commits", "commits/s"),
            ("classic: peak RSS, anonymous", "MB"),
            ("consumer protocol: peak RSS, anonymous", "MB"),
        ],
    };
    // The protocols of one point alternate, so that a slow moment falls on both; a
    // protocol that failed leaves its cells empty.
    Ok(shape.measure(&cmd.groups, |n| {
        let mut row = vec![None; 6];
        for (i, protocol) in [Protocol::Classic, Protocol::Consumer]
            .into_iter()
            .enumerate()
        {
            if let Some(point) = or_gap(
                &format!("{n} groups, {}", protocol.name()),
                groups_point(cmd, spec, n, protocol),
            ) {
                row[i] = secs(point.assigned);
                row[2 + i] = Some(point.commits_per_s);
                row[4 + i] = mb(point.peaks.anon_bytes);
            }
        }
        Ok(row)
    }))
}

struct GroupsPoint {
    assigned: Duration,
    commits_per_s: f64,
    peaks: Peaks,
}

/// `n` groups of one member each (raw protocol clients, [`swarm::groups`]) join at one
/// moment; the time until every member owns all the topic's partitions, then
/// `cmd.commit_secs` of synchronous commits by every member.
fn groups_point(
    cmd: &CurvesCmd,
    spec: &BrokerSpec,
    n: u64,
    protocol: Protocol,
) -> anyhow::Result<GroupsPoint> {
    let dir = point_dir(cmd, &format!("groups-{}", protocol.name()), n)?;
    let mut spec = spec.clone();
    spec.settings
        .push(("group.initial.rebalance.delay.ms".into(), "0".into()));
    let (mut broker, _) = BrokerProcess::start(&spec, &dir)?;
    let sampler = PeakSampler::start(broker.pid()?);
    let bootstrap = broker.bootstrap();
    create_topic(&admin_config(&bootstrap), TOPIC, GROUP_PARTITIONS)?;
    let run = swarm::groups(&GroupsPlan {
        bootstrap: &bootstrap,
        topic: TOPIC,
        partitions: GROUP_PARTITIONS,
        groups: usize::try_from(n)?,
        protocol,
        commit_secs: cmd.commit_secs,
        timeout: Duration::from_secs_f64(cmd.group_timeout),
    });
    let peaks = sampler.finish();
    broker.stop()?;
    std::fs::remove_dir_all(&dir).ok();
    let run = run?;
    Ok(GroupsPoint {
        assigned: run.assigned,
        commits_per_s: run.commits_per_s,
        peaks,
    })
}

fn at_rest_curve(cmd: &CurvesCmd, spec: &BrokerSpec) -> anyhow::Result<Curve> {
    let title = format!("Startup with data at rest ({AT_REST_PARTITIONS} partitions)");
    let shape = Shape {
        name: "at-rest",
        title: &title,
        x_label: "GB at rest",
        columns: &[
            ("first start, every log recovered", "s"),
            ("startup after a clean stop", "s"),
            ("startup after kill -9", "s"),
            ("RSS after startup", "MB"),
            ("RSS after startup, anonymous", "MB"),
            ("open files after startup", "files"),
        ],
    };
    Ok(shape.measure(&cmd.at_rest_gb, |gb| at_rest_point(cmd, spec, gb)))
}

fn at_rest_point(cmd: &CurvesCmd, spec: &BrokerSpec, gb: u64) -> anyhow::Result<Vec<Option<f64>>> {
    let dir = point_dir(cmd, "at-rest", gb)?;
    // The broker makes the topic (its journal and directories) and stops cleanly;
    // the logs are then filled in behind it.
    let (mut broker, _) = BrokerProcess::start(spec, &dir)?;
    create_topic(
        &admin_config(&broker.bootstrap()),
        TOPIC,
        AT_REST_PARTITIONS,
    )?;
    broker.stop()?;
    at_rest::fill(
        &dir.join("data"),
        TOPIC,
        AT_REST_PARTITIONS,
        gb * 1_000_000_000,
    )?;
    let first = broker.restart_clean()?;
    let clean = broker.restart_clean()?;
    let killed = broker.restart_killed()?;
    let pid = broker.pid()?;
    let rss = crate::proc_stats::read_rss_bytes(pid)?;
    let anon = crate::broker::anon_bytes(pid)?;
    let files = crate::broker::open_files(pid)?;
    broker.stop()?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(vec![
        secs(first),
        secs(clean),
        secs(killed),
        mb(rss),
        mb(anon),
        Some(files as f64),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_from_days_since_the_epoch() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(11_016), "2000-02-29");
        assert_eq!(civil_date(20_790), "2026-12-03");
    }
}
