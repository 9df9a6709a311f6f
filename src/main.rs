//! `aeon`: run a broker from a TOML config until ctrl-c or SIGTERM, then shut down
//! cleanly (segments trimmed, the clean-shutdown marker written); or, with a command
//! (`aeon topic|group|cluster ...`, see `cli/`), administer a running broker.

use aeon::config::{Config, LogFormat};
use aeon::Broker;
use anyhow::Context as _;
use clap::Parser;
use std::path::PathBuf;

mod cli;

#[derive(Parser, Debug)]
#[command(
    name = "aeon",
    version,
    about = "A Kafka-compatible message broker; without a command, runs the broker",
    args_conflicts_with_subcommands = true
)]
struct Args {
    /// An admin command against a running broker, instead of running one.
    #[command(subcommand)]
    command: Option<cli::Command>,
    /// The TOML config file. Without it, `config/aeon.toml` is used when present.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Overrides `listeners`, e.g. 127.0.0.1:9092.
    #[arg(long)]
    listen: Option<String>,
    /// Overrides `log.dirs`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if let Some(command) = args.command.take() {
        // An operator's error: one line, Kafka's error name in it, exit status 1.
        if let Err(e) = cli::run(command) {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
        return Ok(());
    }
    let path = args
        .config
        .or_else(|| Some(PathBuf::from("config/aeon.toml")).filter(|p| p.exists()));
    let mut config = Config::load(path.as_deref(), std::env::vars()).with_context(|| {
        format!(
            "loading the config{}",
            path.as_ref()
                .map(|p| format!(" {}", p.display()))
                .unwrap_or_default()
        )
    })?;
    if let Some(listen) = args.listen {
        config.set("listeners", &listen)?;
    }
    if let Some(dir) = args.data_dir {
        config.set("log.dirs", &dir.to_string_lossy())?;
    }
    init_logging(config.log_format);
    raise_open_files_limit();
    tracing::info!(config = %config.effective_summary(), "effective configuration");
    let broker = Broker::start(config)?;
    tracing::info!(addr = %broker.local_addr(), "listening");
    wait_for_signal()?;
    broker.stop();
    Ok(())
}

/// Logs on stderr, as text (colored on a terminal) or one JSON object per line
/// (`log.format`); `RUST_LOG` filters, `aeon=info` by default (no per-request lines).
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("aeon=info"));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn wait_for_signal() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
        tracing::info!("signal received");
        Ok(())
    })
}

/// Raises the soft limit of open files to the hard one, as the JVM does for Kafka: a
/// broker holds a descriptor per connection and per active segment, and the usual soft
/// limit (1024) is far below what a few thousand partitions need.
fn raise_open_files_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let from = limit.current;
        limit.current = limit.maximum;
        match setrlimit(Resource::Nofile, limit) {
            Ok(()) => {
                tracing::info!(from = ?from, to = ?limit.current, "raised the open files limit")
            }
            Err(error) => tracing::warn!(%error, "could not raise the open files limit"),
        }
    }
}
