//! The `aeon` binary as users run it: config errors stop startup naming the key, and
//! SIGTERM shuts down cleanly (segments trimmed, the clean-shutdown marker written).

mod common;

use common::{produce_all, Deliveries};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord};
use std::process::Command;
use std::time::{Duration, Instant};

/// Starts `aeon` on 127.0.0.1:0 with its data in `data_dir`.
fn start_aeon(data_dir: &std::path::Path) -> (std::process::Child, String) {
    let mut command = common::aeon_command();
    command
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(data_dir);
    let aeon = common::spawn_aeon(command);
    (aeon.child, aeon.addr)
}

#[test]
fn an_unknown_config_key_stops_startup_with_a_message_naming_it() {
    let dir = tempfile::tempdir().expect("tmp");
    for (file, key) in [
        ("\"log.segment.bites\" = 1000\n", "log.segment.bites"),
        ("num.partitions = \"many\"\n", "num.partitions"),
    ] {
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, file).expect("write");
        let out = common::aeon_command()
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .expect("run");
        assert!(!out.status.success(), "{file}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "stderr: {stderr}");
    }
}

#[test]
fn sigterm_shuts_down_cleanly_with_trimmed_segments_and_the_marker() {
    let dir = tempfile::tempdir().expect("tmp");
    let (mut child, addr) = start_aeon(dir.path());
    let producer: BaseProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("acks", "all")
        .create_with_context(Deliveries::default())
        .expect("producer");
    produce_all(
        &producer,
        (0..1000).map(|_| BaseRecord::<[u8], [u8]>::to("auto-created").payload(b"durable")),
    );
    drop(producer);

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "aeon did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "clean exit: {exit}");
    let part = dir.path().join("auto-created-0");
    assert!(
        part.join(".aeon_clean_shutdown").exists(),
        "clean-shutdown marker written"
    );
    let log = part.join(format!("{:020}.log", 0));
    let len = std::fs::metadata(&log).expect("segment").len();
    assert!(
        len > 0 && len < 1 << 20,
        "the active segment is trimmed to its data ({len} bytes)"
    );
}
