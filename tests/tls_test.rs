//! TLS listeners (SSL, mTLS, SASL_SSL) with rustls clients over real sockets: the
//! principal named by the client certificate, refusals of clients that do not belong,
//! the wrong protocol on either port, a stalled handshake, and certificates replaced
//! on a running broker.

mod common;

use aeon::config::Config;
use aeon::protocol::messages::api_versions_request::ApiVersionsRequest;
use aeon::protocol::messages::create_acls_request::AclCreation;
use aeon::protocol::messages::metadata_request::MetadataRequest;
use aeon::protocol::records::{RecordBatchBuilder, RecordSpec};
use aeon::protocol::{ErrorCode, Request, Response};
use common::{
    assert_closed_by_broker, call, connect, produce_raw, self_signed_client, tls_connect,
    try_read_frame, write_keystore, write_request, Pki, TestBroker,
};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A broker with an INTERNAL PLAINTEXT listener (first: the bootstrap, its anonymous
/// clients super users) and a SECURE listener of `protocol`, its key in a PEM file
/// that `keys` holds, the CA trusted for client certificates, ACLs on.
fn broker(
    pki: &Pki,
    protocol: &'static str,
    tweak: impl Fn(&mut Config) + 'static,
) -> (TestBroker, TempDir, PathBuf) {
    let keys = tempfile::tempdir().expect("dir");
    let (ca, keystore) = pki.write(keys.path(), &pki.server("broker-a"));
    let path = keystore.clone();
    let broker = TestBroker::start_with(move |c| {
        common::tls_keys(c, &keystore, &ca);
        c.set(
            "listener.security.protocol.map",
            &format!("INTERNAL:PLAINTEXT,SECURE:{protocol}"),
        )
        .expect("map");
        c.set("listeners", "INTERNAL://127.0.0.1:0,SECURE://127.0.0.1:0")
            .expect("listeners");
        c.set("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-512")
            .expect("mechanisms");
        common::acls_on(c);
        tweak(c);
    });
    (broker, keys, path)
}

fn secure(broker: &TestBroker) -> String {
    broker.listener_addr("SECURE").to_string()
}

fn batch() -> Vec<u8> {
    RecordBatchBuilder::new(0, 1)
        .record(RecordSpec::new(Some(b"k"), Some(b"v")))
        .build()
}

fn allow_alice_to_write(broker: &TestBroker, topic: &str) {
    common::grant_acls(
        &broker.bootstrap(),
        vec![AclCreation {
            resource_type: 2,
            resource_name: topic.into(),
            resource_pattern_type: 3,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: 4,
            permission_type: 3,
            ..Default::default()
        }],
    );
}

/// A TLS client the broker must not serve: its handshake fails, or (TLS 1.3, where
/// the server judges the client's certificate after the client is done) its first
/// request is answered by a closed connection.
fn assert_refused(addr: &str, config: std::sync::Arc<rustls::ClientConfig>, what: &str) {
    let Ok(mut s) = tls_connect(addr, config) else {
        return;
    };
    write_request(
        &mut s,
        3,
        1,
        Request::ApiVersions(ApiVersionsRequest::default()),
    );
    assert!(try_read_frame(&mut s).is_err(), "{what}: served");
}

fn api_versions_ok(s: &mut (impl std::io::Read + Write)) {
    let Response::ApiVersions(v) =
        call(s, 3, 7, Request::ApiVersions(ApiVersionsRequest::default()))
    else {
        panic!("not an ApiVersions response")
    };
    assert_eq!(v.error_code, 0);
}

#[test]
fn an_mtls_client_is_the_principal_its_certificate_names() {
    let pki = Pki::new();
    let (broker, _keys, _) = broker(&pki, "SSL", |c| {
        c.set("ssl.client.auth", "required").expect("client auth");
    });
    broker.create_topic("t", 1);
    broker.create_topic("u", 1);
    allow_alice_to_write(&broker, "t");
    let alice = pki.client("alice");
    let mut s = tls_connect(&secure(&broker), pki.client_config(Some(&alice))).expect("alice");
    api_versions_ok(&mut s);
    // User:alice (CN=alice,O=Aeon test, mapped by the rule) may write t, not u.
    assert_eq!(produce_raw(&mut s, "t", None, batch()).error_code, 0);
    assert_eq!(
        produce_raw(&mut s, "u", None, batch()).error_code,
        ErrorCode::TopicAuthorizationFailed as i16
    );
    // No certificate, or one no trusted CA signed: not served.
    assert_refused(&secure(&broker), pki.client_config(None), "no certificate");
    let mallory = self_signed_client("alice");
    assert_refused(
        &secure(&broker),
        pki.client_config(Some(&mallory)),
        "a self-signed certificate",
    );
    // Another CA's client.
    let other = Pki::new().client("alice");
    assert_refused(
        &secure(&broker),
        pki.client_config(Some(&other)),
        "another CA's certificate",
    );
    // The broker serves on.
    api_versions_ok(&mut s);
    api_versions_ok(&mut connect(&broker.bootstrap()));
}

#[test]
fn the_wrong_protocol_on_either_port_and_a_stalled_handshake_are_closed() {
    let pki = Pki::new();
    let (broker, _keys, _) = broker(&pki, "SSL", |c| {
        c.set("connections.max.idle.ms", "1000").expect("idle");
    });
    // A plaintext Kafka client on the TLS port.
    let mut plain = connect(&secure(&broker));
    write_request(
        &mut plain,
        3,
        1,
        Request::ApiVersions(ApiVersionsRequest::default()),
    );
    assert_closed_by_broker(&mut plain, "plaintext client on the TLS port");
    // A TLS client on the plaintext port: its ClientHello reads as a frame size far
    // past socket.request.max.bytes.
    assert!(
        tls_connect(&broker.bootstrap(), pki.client_config(None)).is_err(),
        "TLS client on the plaintext port"
    );
    // A handshake that stops after three bytes is closed by the idle timer.
    let started = Instant::now();
    let mut slow = connect(&secure(&broker));
    slow.write_all(&[0x16, 0x03, 0x01]).expect("write");
    assert_closed_by_broker(&mut slow, "stalled handshake");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed by the timer"
    );
    // And the broker serves both listeners on.
    let mut s = tls_connect(&secure(&broker), pki.client_config(None)).expect("TLS");
    api_versions_ok(&mut s);
    api_versions_ok(&mut connect(&broker.bootstrap()));
}

#[test]
fn sasl_ssl_authenticates_inside_tls() {
    let pki = Pki::new();
    let alice = aeon::security::scram::ScramCredential::from_password(
        aeon::security::scram::ScramMechanism::Sha512,
        b"alice-secret",
        b"tls-test-salt",
        4096,
    )
    .expect("credential");
    let (broker, _keys, _) = broker(&pki, "SASL_SSL", move |c| {
        aeon::security::users::add_offline(
            &c.log_dir,
            "alice",
            aeon::security::scram::ScramMechanism::Sha512,
            alice.clone(),
        )
        .expect("alice");
    });
    let login = |password: &str| {
        let mut s = tls_connect(&secure(&broker), pki.client_config(None)).expect("TLS");
        let code = common::sasl_plain(&mut s, "alice", password);
        (s, code)
    };
    let (mut s, code) = login("alice-secret");
    assert_eq!(code, 0);
    let Response::Metadata(_) = call(&mut s, 12, 3, Request::Metadata(MetadataRequest::default()))
    else {
        panic!("not a Metadata response")
    };
    let (_, code) = login("wrong");
    assert_eq!(code, ErrorCode::SaslAuthenticationFailed as i16);
    // Before authenticating, nothing but the SASL APIs is served inside TLS either.
    let mut early = tls_connect(&secure(&broker), pki.client_config(None)).expect("TLS");
    write_request(
        &mut early,
        12,
        1,
        Request::Metadata(MetadataRequest::default()),
    );
    assert!(try_read_frame(&mut early).is_err(), "served before SASL");
}

#[test]
fn a_replaced_certificate_is_served_without_a_restart() {
    let pki = Pki::new();
    let (broker, _keys, keystore) = broker(&pki, "SSL", |c| {
        c.set("ssl.reload.interval.ms", "100").expect("reload");
    });
    let presented = || {
        let s = tls_connect(&secure(&broker), pki.client_config(None)).expect("TLS");
        s.conn.peer_certificates().expect("certificates")[0].clone()
    };
    let before = presented();
    let next = pki.server("broker-b");
    assert_ne!(&before, next.der());
    let old = tls_connect(&secure(&broker), pki.client_config(None)).expect("TLS");
    write_keystore(&keystore, &next);
    let deadline = Instant::now() + Duration::from_secs(20);
    while presented() != *next.der() {
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A connection made before the change is unaffected.
    let mut old = old;
    api_versions_ok(&mut old);
    // A broken file is not loaded: the last good certificate stays.
    std::fs::write(&keystore, "not a PEM file").expect("write");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(presented(), *next.der());
}

/// The rdkafka crate (librdkafka built with OpenSSL and SASL) as an authorized user,
/// over SSL with a client certificate, over SASL_SSL with SCRAM-SHA-512, and over SSL
/// without a certificate: produce, a consumer group with a commit, and a transaction.
#[test]
fn rdkafka_over_mtls_and_sasl_ssl_as_an_authorized_user() {
    use rdkafka::consumer::{CommitMode, Consumer};
    use rdkafka::producer::{BaseRecord, Producer};
    let pki = Pki::new();
    let credential = aeon::security::scram::ScramCredential::from_password(
        aeon::security::scram::ScramMechanism::Sha512,
        b"alice-secret",
        b"tls-test-salt",
        4096,
    )
    .expect("credential");
    let (broker, _keys, _) = broker(&pki, "SSL", move |c| {
        c.set(
            "listener.security.protocol.map",
            "INTERNAL:PLAINTEXT,SECURE:SSL,SASLTLS:SASL_SSL",
        )
        .expect("map");
        c.set(
            "listeners",
            "INTERNAL://127.0.0.1:0,SECURE://127.0.0.1:0,SASLTLS://127.0.0.1:0",
        )
        .expect("listeners");
        c.set("ssl.client.auth", "requested").expect("client auth");
        c.set("group.initial.rebalance.delay.ms", "0")
            .expect("delay");
        aeon::security::users::add_offline(
            &c.log_dir,
            "alice",
            aeon::security::scram::ScramMechanism::Sha512,
            credential.clone(),
        )
        .expect("alice");
    });
    // alice (by password, or by her certificate's CN) may use everything named rd-*.
    let mut creations = Vec::new();
    for resource_type in [2, 3, 5] {
        creations.push(AclCreation {
            resource_type,
            resource_name: "rd-".into(),
            resource_pattern_type: 4,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: 2,
            permission_type: 3,
            ..Default::default()
        });
    }
    common::grant_acls(&broker.bootstrap(), creations);
    let alice = pki.client("alice");
    let mut mtls = rdkafka::ClientConfig::new();
    mtls.set("bootstrap.servers", secure(&broker))
        .set("security.protocol", "SSL")
        .set("ssl.ca.pem", &pki.ca_pem)
        .set("ssl.certificate.pem", &alice.cert_pem)
        .set("ssl.key.pem", &alice.key_pem);
    let mut scram = rdkafka::ClientConfig::new();
    scram
        .set(
            "bootstrap.servers",
            broker.listener_addr("SASLTLS").to_string(),
        )
        .set("security.protocol", "SASL_SSL")
        .set("ssl.ca.pem", &pki.ca_pem)
        .set("sasl.mechanism", "SCRAM-SHA-512")
        .set("sasl.username", "alice")
        .set("sasl.password", "alice-secret");
    // One-way TLS, no certificate: the anonymous principal (this broker's super user).
    let mut ssl = rdkafka::ClientConfig::new();
    ssl.set("bootstrap.servers", secure(&broker))
        .set("security.protocol", "SSL")
        .set("ssl.ca.pem", &pki.ca_pem);
    for (how, config) in [("mtls", mtls), ("scram", scram), ("ssl", ssl)] {
        let topic = format!("rd-{how}");
        broker.create_topic(&topic, 2);
        let producer = common::producer_with(&config, &[("enable.idempotence", "true")]);
        let records: Vec<(String, String)> = (0..10)
            .map(|i| (format!("k{i}"), format!("v{i}")))
            .collect();
        common::produce_all(
            &producer,
            records.iter().map(|(k, v)| {
                BaseRecord::to(&topic)
                    .key(k.as_bytes())
                    .payload(v.as_bytes())
            }),
        );
        let mut group = common::group_config(&config, &format!("rd-group-{how}"));
        group.set("session.timeout.ms", "10000");
        let consumer: rdkafka::consumer::BaseConsumer = group.create().expect("consumer");
        consumer.subscribe(&[&topic]).expect("subscribe");
        let got = common::consume(&consumer, 10, Duration::from_secs(30));
        assert_eq!(got.len(), 10, "{how}: consumed in a group");
        consumer
            .commit_consumer_state(CommitMode::Sync)
            .expect("commit");
        let mut txn = config.clone();
        txn.set("transactional.id", format!("rd-tx-{how}"));
        let t: rdkafka::producer::BaseProducer = txn.create().expect("transactional producer");
        t.init_transactions(Duration::from_secs(30)).expect("init");
        t.begin_transaction().expect("begin");
        t.send(BaseRecord::<str, str>::to(&topic).payload("in a transaction"))
            .expect("send");
        t.commit_transaction(Duration::from_secs(30))
            .expect("commit");
    }
}
