//! Listeners and security: several named listeners at once, each client answered with
//! the addresses of the listener it came in on.

mod common;

use aeon::protocol::messages::describe_cluster_request::DescribeClusterRequest;
use aeon::protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use aeon::protocol::messages::metadata_request::MetadataRequest;
use aeon::protocol::{Request, Response};
use common::{raw, TestBroker};

/// What a client that came in at `addr` is told to connect to: (Metadata's broker,
/// FindCoordinator's coordinator, DescribeCluster's broker), each as host:port.
fn advertised_to(addr: &str) -> [String; 3] {
    let Response::Metadata(m) = raw(addr, 12, Request::Metadata(MetadataRequest::default())) else {
        panic!("not a Metadata response")
    };
    let Response::FindCoordinator(f) = raw(
        addr,
        4,
        Request::FindCoordinator(FindCoordinatorRequest {
            key_type: 0,
            coordinator_keys: vec!["g".into()],
            ..Default::default()
        }),
    ) else {
        panic!("not a FindCoordinator response")
    };
    let Response::DescribeCluster(d) = raw(
        addr,
        1,
        Request::DescribeCluster(DescribeClusterRequest {
            endpoint_type: 1,
            ..Default::default()
        }),
    ) else {
        panic!("not a DescribeCluster response")
    };
    [
        format!("{}:{}", m.brokers[0].host, m.brokers[0].port),
        format!("{}:{}", f.coordinators[0].host, f.coordinators[0].port),
        format!("{}:{}", d.brokers[0].host, d.brokers[0].port),
    ]
}

#[test]
fn each_listener_advertises_its_own_address() {
    let broker = TestBroker::start_with(|c| {
        c.set(
            "listener.security.protocol.map",
            "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
        )
        .expect("map");
        c.set("listeners", "INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0")
            .expect("listeners");
        c.set("advertised.listeners", "EXTERNAL://kafka.example:19092")
            .expect("advertised");
    });
    let internal = broker.listener_addr("INTERNAL").to_string();
    let external = broker.listener_addr("EXTERNAL").to_string();
    assert_ne!(internal, external);
    assert_eq!(broker.bootstrap(), internal, "the first listener");
    assert_eq!(
        advertised_to(&internal),
        [internal.clone(), internal.clone(), internal]
    );
    let outside = "kafka.example:19092".to_string();
    assert_eq!(
        advertised_to(&external),
        [outside.clone(), outside.clone(), outside]
    );

    // A real client through the internal listener.
    broker.create_topic("both", 1);
    let p = broker.producer(&[]);
    common::send_all(
        &p,
        [rdkafka::producer::BaseRecord::<str, str>::to("both").payload("x")],
    );
    rdkafka::producer::Producer::flush(&p, std::time::Duration::from_secs(10)).expect("flush");
}
