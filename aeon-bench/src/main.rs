//! `aeon-bench`: a load tool for any Kafka-compatible broker (built on librdkafka).
//!
//! Layout: `main.rs` parses the command line and dispatches; `produce.rs`, `consume.rs`,
//! `e2e.rs` and `rebalance.rs` are one mode each; `limit.rs` measures what the machine allows;
//! `report.rs` holds histograms, output and the progress bar; `proc_stats.rs` reads
//! the broker's cost from `/proc`. `curves.rs` starts brokers of its own (`broker.rs`,
//! with `at_rest.rs` making test logs) to measure growth curves, which `plot.rs` draws;
//! its clients and groups curves run many connections on one thread with `swarm.rs`,
//! over `wire.rs` (the protocol spoken directly, with Aeon's codec).

mod at_rest;
mod broker;
mod consume;
mod curves;
mod e2e;
mod limit;
mod plot;
mod proc_stats;
mod produce;
mod rebalance;
mod report;
mod swarm;
mod wire;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rdkafka::config::ClientConfig;

use crate::report::RunLength;

#[derive(Parser)]
#[command(
    name = "aeon-bench",
    version,
    about = "Load tool for any Kafka-compatible broker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Produce messages; report throughput and send -> delivery-ack latency.
    Produce(ProduceCmd),
    /// Read a topic from the beginning without a consumer group; report throughput.
    Consume(ConsumeCmd),
    /// Producers and consumers in one process; report send -> receipt latency.
    E2e(E2eCmd),
    /// Measure loopback TCP and disk bandwidth for the same bytes.
    Limit(LimitCmd),
    /// Time a consumer group takes to a stable assignment, classic protocol beside the consumer protocol (KIP-848).
    Rebalance(RebalanceCmd),
    /// Start brokers (an `aeon` binary) and measure how their cost grows with partitions, clients, groups and data at rest; write the curves as JSON for `plot`.
    Curves(CurvesCmd),
    /// Draw measured growth curves (a JSON file) as SVG plots and print them as Markdown tables.
    Plot(PlotCmd),
}

#[derive(Args)]
pub struct CurvesCmd {
    /// The broker binary to start (a release build).
    #[arg(long, default_value = "target/release/aeon")]
    pub aeon: PathBuf,
    /// Where the brokers' data directories go (each point starts from an empty one).
    #[arg(long, default_value = "/tmp/aeon-curves")]
    pub dir: PathBuf,
    /// The JSON file to write (after each curve).
    #[arg(long, default_value = "curves.json")]
    pub out: PathBuf,
    /// Curves to measure, comma-separated: partitions, clients, groups, at-rest [default: all]. The other curves of an existing --out file are kept.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Partition counts of the partitions curve.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100,1000,10000")]
    pub partitions: Vec<u64>,
    /// Producer (and consumer) client counts of the clients curve.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100,1000")]
    pub clients: Vec<u64>,
    /// Group counts of the groups curve.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100,1000")]
    pub groups: Vec<u64>,
    /// GB (10^9 bytes) at rest of the data-at-rest curve.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
    pub at_rest_gb: Vec<u64>,
    /// Messages produced and consumed at each point of the partitions and clients curves.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: u64,
    /// Message size in bytes.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Total rate of the end-to-end latency run, messages per second.
    #[arg(long, default_value_t = 10_000.0)]
    pub rate: f64,
    /// Seconds of the end-to-end latency run.
    #[arg(long, default_value_t = 5.0)]
    pub latency_secs: f64,
    /// Seconds of offset commits at each point of the groups curve.
    #[arg(long, default_value_t = 5.0)]
    pub commit_secs: f64,
    /// Seconds the groups may take to be assigned.
    #[arg(long, default_value_t = 120.0)]
    pub group_timeout: f64,
    /// A broker setting (Kafka's name), passed as its AEON_* variable (repeatable).
    #[arg(long = "broker-set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub broker_set: Vec<(String, String)>,
}

#[derive(Args)]
pub struct RebalanceCmd {
    /// Broker address(es), comma-separated.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub bootstrap: String,
    /// The topic the groups subscribe to; created with --partitions if missing.
    #[arg(long, default_value = "aeon-bench-groups")]
    pub topic: String,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 1000)]
    pub partitions: i32,
    /// Group sizes to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
    pub members: Vec<usize>,
    /// group.protocol to measure: classic, consumer, or both (runs alternate).
    #[arg(long, default_value = "both", value_parser = ["classic", "consumer", "both"])]
    pub protocol: String,
    /// Runs per protocol and group size; the report gives their median.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Seconds a run may take before it counts as a failure.
    #[arg(long, default_value_t = 120.0)]
    pub timeout: f64,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
    /// Any librdkafka property, applied to every member (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub set: Vec<(String, String)>,
}

#[derive(Args)]
pub struct ProduceCmd {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub producer: ProducerArgs,
}

#[derive(Args)]
pub struct ConsumeCmd {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub consumer: ConsumerArgs,
}

#[derive(Args)]
pub struct E2eCmd {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub producer: ProducerArgs,
    #[command(flatten)]
    pub consumer: ConsumerArgs,
}

#[derive(Args)]
pub struct LimitCmd {
    /// Message size in bytes.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Number of messages (the bytes moved are size x messages).
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: u64,
    /// Directory for the disk measurement (meant to be the broker's data dir) [default: a temporary directory].
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct PlotCmd {
    /// JSON file of growth curves (`plot::Curves`).
    #[arg(long)]
    pub input: PathBuf,
    /// Directory for one `<curve name>.svg` per curve; created if missing.
    #[arg(long)]
    pub out_dir: PathBuf,
    /// Path the printed Markdown uses to link the SVGs [default: --out-dir as given].
    #[arg(long)]
    pub link_prefix: Option<String>,
}

/// Flags shared by produce, consume and e2e.
#[derive(Args)]
pub struct CommonArgs {
    /// Broker address(es), comma-separated.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub bootstrap: String,
    /// Topic name.
    #[arg(long, default_value = "aeon-bench")]
    pub topic: String,
    /// Partitions for --create-topic; consumers read all partitions the broker reports.
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    /// Create the topic first with the admin client (replication factor 1); an existing topic is fine.
    #[arg(long)]
    pub create_topic: bool,
    /// Total messages to move [default: 100000 unless --duration].
    #[arg(long, conflicts_with = "duration")]
    pub messages: Option<u64>,
    /// Run for this many seconds instead of a message count.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Payload size in bytes (consume uses it only for --limit).
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Print a JSON report on stdout (and no progress bar).
    #[arg(long)]
    pub json: bool,
    /// Any librdkafka property, applied to every client after the tool's own (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub set: Vec<(String, String)>,
    /// The broker's pid: report its CPU time over the run and its RSS at the end (Linux /proc).
    #[arg(long)]
    pub broker_pid: Option<u32>,
    /// Measure loopback and disk limits first and report this run as a ratio of them.
    #[arg(long)]
    pub limit: bool,
    /// Directory for --limit's disk measurement (the broker's data dir) [default: a temporary directory].
    #[arg(long, requires = "limit")]
    pub limit_dir: Option<PathBuf>,
}

impl CommonArgs {
    /// `bootstrap.servers`, then the mode's own properties, then every `--set`.
    pub fn client_config(&self, own: &[(&str, String)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        for (key, value) in own {
            config.set(*key, value);
        }
        for (key, value) in &self.set {
            config.set(key, value);
        }
        config
    }

    pub fn run_length(&self) -> RunLength {
        match (self.messages, self.duration) {
            (_, Some(secs)) => RunLength::Duration(Duration::from_secs_f64(secs.max(0.0))),
            (Some(n), None) => RunLength::Messages(n),
            (None, None) => RunLength::Messages(100_000),
        }
    }

    /// Runs `--limit` on the bytes this run will move (256 MiB for a timed run).
    pub fn limit_first(&self) -> anyhow::Result<Option<limit::LimitReport>> {
        if !self.limit {
            return Ok(None);
        }
        let size = self.size.max(1);
        let messages = match self.run_length() {
            RunLength::Messages(n) => n,
            RunLength::Duration(_) => (256 << 20) / size as u64,
        };
        limit::measure(size, messages, self.limit_dir.as_deref()).map(Some)
    }
}

#[derive(Args)]
pub struct ProducerArgs {
    /// Producer acks: 0, 1 or all.
    #[arg(long, default_value = "1", value_parser = ["0", "1", "all", "-1"])]
    pub acks: String,
    /// linger.ms [default: librdkafka's].
    #[arg(long)]
    pub linger_ms: Option<u64>,
    /// batch.size in bytes [default: librdkafka's].
    #[arg(long)]
    pub batch_size: Option<u64>,
    /// compression.type.
    #[arg(long, default_value = "none", value_parser = ["none", "gzip", "snappy", "lz4", "zstd"])]
    pub compression: String,
    /// Producer threads, each with its own client.
    #[arg(long, default_value_t = 1)]
    pub producers: usize,
    /// Total send rate in messages per second, paced evenly [default: as fast as possible].
    #[arg(long)]
    pub rate: Option<f64>,
    /// Send to every partition of --partitions in turn (round robin) instead of leaving
    /// the choice to librdkafka's partitioner.
    #[arg(long)]
    pub spread: bool,
}

#[derive(Args)]
pub struct ConsumerArgs {
    /// Consumer threads, each with its own client and a share of the partitions.
    #[arg(long, default_value_t = 1)]
    pub consumers: usize,
    /// fetch.wait.max.ms [default: librdkafka's].
    #[arg(long)]
    pub fetch_wait_ms: Option<u64>,
    /// Stop when no message arrived for this many seconds.
    #[arg(long, default_value_t = 10.0)]
    pub idle_timeout: f64,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// Splits `total` into `parts` shares that differ by at most one.
pub fn share(total: u64, parts: usize, index: usize) -> u64 {
    let parts = parts.max(1) as u64;
    total / parts + u64::from((index as u64) < total % parts)
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Produce(cmd) => produce::run(&cmd),
        Command::Consume(cmd) => consume::run(&cmd),
        Command::E2e(cmd) => e2e::run(&cmd),
        Command::Rebalance(cmd) => rebalance::run(&cmd),
        Command::Curves(cmd) => curves::run(&cmd),
        Command::Plot(cmd) => plot::run(&cmd),
        Command::Limit(cmd) => {
            let r = limit::measure(cmd.size.max(1), cmd.messages, cmd.dir.as_deref())?;
            if cmd.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print!("{}", r.text());
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_differ_by_at_most_one() {
        let shares: Vec<u64> = (0..3).map(|i| share(10, 3, i)).collect();
        assert_eq!(shares, vec![4, 3, 3]);
        assert_eq!(share(5, 0, 0), 5);
    }

    #[test]
    fn key_values_split_at_the_first_equals_sign() {
        assert_eq!(
            parse_key_value("a.b=c=d").unwrap(),
            ("a.b".into(), "c=d".into())
        );
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=x").is_err());
    }

    #[test]
    fn cli_parses_every_subcommand() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["aeon-bench", "produce", "--messages", "5", "--set", "x=y"])
            .unwrap();
        let Command::Produce(p) = cli.command else {
            panic!("not produce")
        };
        assert_eq!(p.common.run_length(), RunLength::Messages(5));
        assert!(Cli::try_parse_from([
            "aeon-bench",
            "consume",
            "--messages",
            "1",
            "--duration",
            "1"
        ])
        .is_err());
    }
}
