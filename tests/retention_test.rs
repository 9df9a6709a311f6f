//! Retention gives the disk back: segments it removes are unmapped and closed promptly,
//! not held open by the flush queue until some later flush (by default none comes) or
//! until shutdown.

mod common;

use common::{produce_all, TestBroker};
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::producer::BaseRecord;
use std::path::Path;
use std::time::{Duration, Instant};

/// Files under `dir` that this process still holds open or mapped although they were
/// removed from the log: renamed `*.deleted` (their deletion waits for
/// `file.delete.delay.ms`) or already deleted.
fn deleted_but_held(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().to_string();
    let mut held = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        for entry in entries.flatten() {
            if let Ok(target) = std::fs::read_link(entry.path()) {
                let target = target.to_string_lossy().to_string();
                if target.starts_with(&dir) && is_removed(&target) {
                    held.push(format!("fd {target}"));
                }
            }
        }
    }
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    for line in maps.lines() {
        if line.contains(dir.as_str()) && is_removed(line) {
            held.push(format!("map {line}"));
        }
    }
    held
}

fn is_removed(path: &str) -> bool {
    path.ends_with("(deleted)") || path.ends_with(".deleted")
}

fn segments(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn segments_removed_by_retention_are_closed_and_unmapped_at_once() {
    let broker = TestBroker::start_with(|c| {
        c.set("log.retention.check.interval.ms", "100")
            .expect("set");
    });
    let topic = NewTopic::new("shrinking", 1, TopicReplication::Fixed(1))
        .set("segment.bytes", "1048576")
        .set("retention.bytes", "2097152");
    broker.create_topic_with(&topic);
    let producer = broker.producer(&[("linger.ms", "5"), ("compression.type", "none")]);
    let value = vec![b'x'; 1024];
    produce_all(
        &producer,
        (0..16_000).map(|_| BaseRecord::<[u8], [u8]>::to("shrinking").payload(&value[..])),
    );
    let dir = broker.dir.path().join("shrinking-0");
    let deadline = Instant::now() + Duration::from_secs(60);
    // 16 MiB went into 1 MiB segments; retention keeps about 2 MiB of them.
    loop {
        let (count, held) = (segments(&dir), deleted_but_held(broker.dir.path()));
        let first_gone = !dir.join(format!("{:020}.log", 0)).exists();
        if first_gone && count <= 6 && held.is_empty() {
            eprintln!("{count} segments left, no removed file held");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{count} segments left; removed files still held: {held:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
