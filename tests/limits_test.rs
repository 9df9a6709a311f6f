//! Limits in config: connections in total and per client address are refused past
//! `max.connections` / `max.connections.per.ip`; a full disk fails appends with
//! KAFKA_STORAGE_ERROR while the log stays readable (on a real, small tmpfs when this
//! machine lets the test mount one).

mod common;

use aeon::protocol::frame::decode_response;
use aeon::protocol::messages::api_versions_request::ApiVersionsRequest;
use aeon::protocol::ApiKey;
use common::{consume, write_request, TestBroker};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use std::io::Read;
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Connects from `local` (any 127.0.0.0/8 address works on loopback).
fn connect_from(local: &str, broker: &str) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let s = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(format!("{local}:0").parse().expect("addr"))
            .expect("bind");
        socket
            .connect(broker.parse().expect("broker addr"))
            .await
            .expect("connect")
            .into_std()
            .expect("std")
    });
    s.set_nonblocking(false).expect("blocking");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s
}

/// Whether the broker serves this connection (an ApiVersions round trip) rather
/// than closing it.
fn is_served(s: &mut TcpStream) -> bool {
    write_request(s, 3, 1, ApiVersionsRequest::default().into());
    let mut len = [0u8; 4];
    match s.read_exact(&mut len) {
        Ok(()) => {
            let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
            s.read_exact(&mut body).expect("response");
            decode_response(ApiKey::ApiVersions, 3, body.into()).expect("decodes");
            true
        }
        Err(e) => {
            assert_ne!(
                e.kind(),
                std::io::ErrorKind::WouldBlock,
                "neither served nor closed"
            );
            false
        }
    }
}

#[test]
fn connections_past_the_total_and_per_ip_limits_are_closed_and_counted_down_on_close() {
    let broker = TestBroker::start_with(|c| {
        c.set("max.connections", "6").expect("set");
        c.set("max.connections.per.ip", "4").expect("set");
    });
    let addr = broker.bootstrap();
    let mut first: Vec<TcpStream> = (0..4).map(|_| connect_from("127.0.0.1", &addr)).collect();
    for s in &mut first {
        assert!(is_served(s), "within max.connections.per.ip");
    }
    let mut fifth = connect_from("127.0.0.1", &addr);
    assert!(!is_served(&mut fifth), "past max.connections.per.ip");

    let mut second: Vec<TcpStream> = (0..2).map(|_| connect_from("127.0.0.2", &addr)).collect();
    for s in &mut second {
        assert!(is_served(s), "another address has its own allowance");
    }
    let mut seventh = connect_from("127.0.0.2", &addr);
    assert!(!is_served(&mut seventh), "past max.connections");

    // Closing a connection gives its place back (once the broker noticed).
    drop(first.pop());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut again = connect_from("127.0.0.1", &addr);
        if is_served(&mut again) {
            break;
        }
        assert!(Instant::now() < deadline, "the place was never given back");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A tmpfs of `size` mounted on a new directory, unmounted on drop. `None` when this
/// machine does not let the test mount one (not root, no CAP_SYS_ADMIN).
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn mount(size: &str) -> Option<SmallFs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallFs { dir })
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the filesystem holding `path` with a ballast file until ENOSPC.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("ballast");
    let chunk = vec![0xa5u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
}

#[test]
fn a_full_disk_fails_appends_with_kafka_storage_error_and_the_log_stays_readable() {
    let Some(fs) = SmallFs::mount("8m") else {
        eprintln!("cannot mount a tmpfs here; the injected ENOSPC storage tests cover this");
        return;
    };
    let mut config = common::test_config(fs.dir.path());
    config.set("log.segment.bytes", "1048576").expect("set");
    config
        .set("log.index.size.max.bytes", "65536")
        .expect("set");
    let broker = aeon::Broker::start(config).expect("broker starts");
    let bootstrap = broker.local_addr().to_string();
    let client = |extra: &[(&str, &str)]| {
        let mut c = common::client_config(&bootstrap);
        c.set("message.timeout.ms", "10000");
        for (k, v) in extra {
            c.set(*k, *v);
        }
        c
    };
    let producer = common::producer_with(&client(&[]), &[("retries", "0"), ("linger.ms", "0")]);
    let value = vec![b'v'; 16 * 1024];
    common::produce_all(
        &producer,
        (0..10).map(|_| BaseRecord::<[u8], [u8]>::to("full").payload(&value)),
    );

    let ballast = fs.dir.path().join("ballast");
    fill(&ballast);
    // Produce until the broker runs out of blocks: each message on its own, so the
    // error is the partition's answer to it.
    let mut acked = 10;
    let error = loop {
        assert!(acked < 1000, "the disk never filled up");
        let (tx, rx) = std::sync::mpsc::channel();
        let p: rdkafka::producer::FutureProducer =
            client(&[("acks", "all"), ("retries", "0"), ("linger.ms", "0")])
                .create()
                .expect("producer");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let r = p
                .send(
                    rdkafka::producer::FutureRecord::<[u8], [u8]>::to("full").payload(&value),
                    Duration::from_secs(10),
                )
                .await;
            let _ = tx.send(r.map(|_| ()).map_err(|(e, _)| e));
        });
        match rx.recv().expect("result") {
            Ok(()) => acked += 1,
            Err(e) => break e,
        }
    };
    eprintln!("disk full after {acked} acknowledged messages: {error}");
    assert_eq!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::KafkaStorageError),
        "a full disk is KAFKA_STORAGE_ERROR: {error}"
    );

    // Everything acknowledged is still readable.
    let mut c = client(&[("group.id", "full-reader"), ("enable.auto.commit", "false")]);
    c.set("auto.offset.reset", "earliest");
    let consumer = common::assigned_consumer(&c, "full", 1);
    let got = consume(&consumer, acked, Duration::from_secs(60));
    assert_eq!(got.len(), acked, "every acknowledged message is readable");

    // Space again: appends work again.
    std::fs::remove_file(&ballast).expect("remove ballast");
    common::produce_all(
        &producer,
        (0..5).map(|_| BaseRecord::<[u8], [u8]>::to("full").payload(&value)),
    );
    assert_eq!(producer.context().failed.load(Ordering::Relaxed), 0);
    let got = consume(&consumer, 5, Duration::from_secs(60));
    assert_eq!(got.len(), 5, "new appends readable after space came back");
    producer.flush(Duration::from_secs(10)).expect("flush");
    drop(producer);
    drop(consumer);
    broker.stop();
    drop(fs);
}

#[test]
fn the_default_limits_are_safe() {
    let c = aeon::config::Config::default();
    assert_eq!(c.max_connections, 10_000);
    assert_eq!(c.max_connections_per_ip, 1_000);
    assert_eq!(c.queued_max_requests, 500);
    assert_eq!(c.socket_request_max_bytes, 100 * 1024 * 1024);
}
