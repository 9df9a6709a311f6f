//! The `aeon` binary as users run it: config errors stop startup naming the key, and
//! SIGTERM shuts down cleanly (segments trimmed, the clean-shutdown marker written).

mod common;

use common::{client_config, create_topic_at, produce_all, producer_with, AeonProcess};
use rdkafka::producer::BaseRecord;
use std::time::Duration;

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
    let mut aeon = AeonProcess::spawn(&mut common::aeon_serving(dir.path(), 0));
    let producer = producer_with(&client_config(&aeon.addr), &[]);
    produce_all(
        &producer,
        (0..1000).map(|_| BaseRecord::<[u8], [u8]>::to("auto-created").payload(b"durable")),
    );
    drop(producer);

    aeon.sigterm(Duration::from_secs(30));
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

/// `log.format = json`: every line the broker writes is one JSON object, with the
/// level, the target and the event's fields (the address it listens on among them).
#[test]
fn log_format_json_writes_one_json_object_per_line() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("tmp");
    let mut child = common::aeon_serving(dir.path(), 0)
        .env("AEON_LOG_FORMAT", "json")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start aeon");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = 0;
    let mut listening = None;
    for line in std::io::BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
    {
        let event: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(event["level"].is_string(), "{line}");
        assert!(event["target"].is_string(), "{line}");
        lines += 1;
        if event["fields"]["message"] == "listening" {
            listening = event["fields"]["addr"].as_str().map(str::to_string);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(lines >= 2, "the start is logged");
    let addr = listening.expect("the listening line names the address");
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
}

/// A partition holds one file descriptor, its active segment's `.log` (as in Kafka: the
/// indexes are mapped and their descriptors closed, the transaction index opened when
/// written, and no next segment is prepared until the active one is half full), so a
/// few thousand partitions fit in the usual open-files limit.
#[test]
fn a_partition_costs_one_file_descriptor() {
    const PARTITIONS: i32 = 300;
    let dir = tempfile::tempdir().expect("tmp");
    let aeon = AeonProcess::spawn(&mut common::aeon_serving(dir.path(), 0));
    let open_files = || {
        std::fs::read_dir(format!("/proc/{}/fd", aeon.child.id()))
            .expect("/proc/PID/fd")
            .count()
    };
    let before = open_files();
    create_topic_at(&aeon.addr, "many", PARTITIONS);
    // Something in every partition: appends must not open more files.
    let producer = producer_with(&client_config(&aeon.addr), &[("linger.ms", "5")]);
    produce_all(
        &producer,
        (0..PARTITIONS * 4).map(|i| {
            BaseRecord::<[u8], [u8]>::to("many")
                .partition(i % PARTITIONS)
                .payload(b"one descriptor")
        }),
    );
    drop(producer);
    std::thread::sleep(Duration::from_millis(500));
    let added = open_files().saturating_sub(before);
    assert!(
        added <= PARTITIONS as usize + 20,
        "{added} descriptors for {PARTITIONS} partitions"
    );
    assert!(
        added >= PARTITIONS as usize,
        "{added}: every active log is open"
    );
}
