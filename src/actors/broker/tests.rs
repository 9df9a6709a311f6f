use super::*;

fn config(dir: &std::path::Path) -> Arc<Config> {
    let mut c = Config::default();
    c.set("log.dirs", &dir.to_string_lossy()).expect("log.dirs");
    c.set("log.segment.bytes", "1048576")
        .expect("segment bytes");
    Arc::new(c)
}

fn start(dir: &std::path::Path) -> (Addr<BrokerActor>, RoutingHandle, String) {
    let routing = RoutingHandle::default();
    let (actor, cluster_id) = BrokerActor::load(
        Arc::new(arc_swap::ArcSwap::new(config(dir))),
        vec![Arbiter::current()],
        routing.clone(),
    )
    .expect("load");
    (actor.start(), routing, cluster_id)
}

fn create(name: &str, partitions: i32) -> CreateTopic {
    CreateTopic {
        name: name.into(),
        num_partitions: partitions,
        replication_factor: -1,
        assignments: Vec::new(),
        configs: vec![("retention.ms".into(), Some("60000".into()))],
        validate_only: false,
    }
}

#[actix::test]
async fn topics_are_created_routed_and_deleted_with_their_data() {
    let dir = tempfile::tempdir().expect("tmp");
    let (broker, routing, _) = start(dir.path());
    let created = broker
        .send(create("orders", 3))
        .await
        .expect("mailbox")
        .expect("created");
    assert_eq!(created.num_partitions, 3);
    assert_eq!(
        routing.load().topic("orders").map(|t| t.partitions.len()),
        Some(3)
    );
    assert!(dir.path().join("orders-2").is_dir());

    let again = broker.send(create("orders", 1)).await.expect("mailbox");
    assert_eq!(
        again.map(|_| ()).map_err(|e| e.0),
        Err(ErrorCode::TopicAlreadyExists)
    );
    let bad = broker.send(create("bad/name", 1)).await.expect("mailbox");
    assert_eq!(
        bad.map(|_| ()).map_err(|e| e.0),
        Err(ErrorCode::InvalidTopicException)
    );
    let mut rf3 = create("replicated", 1);
    rf3.replication_factor = 3;
    let rf3 = broker.send(rf3).await.expect("mailbox");
    assert_eq!(
        rf3.map(|_| ()).map_err(|e| e.0),
        Err(ErrorCode::InvalidReplicationFactor)
    );
    let mut bad_config = create("configured", 1);
    bad_config.configs = vec![("no.such.config".into(), Some("1".into()))];
    let bad_config = broker.send(bad_config).await.expect("mailbox");
    assert_eq!(
        bad_config.map(|_| ()).map_err(|e| e.0),
        Err(ErrorCode::InvalidConfig)
    );

    let (name, id) = broker
        .send(DeleteTopic::Id(created.id))
        .await
        .expect("mailbox")
        .expect("deleted");
    assert_eq!(name, "orders");
    assert_eq!(id, created.id);
    assert!(routing.load().topic("orders").is_none());
    assert!(!dir.path().join("orders-0").exists(), "the data is removed");
    let gone = broker
        .send(DeleteTopic::Name("orders".into()))
        .await
        .expect("mailbox");
    assert_eq!(
        gone.map_err(|e| e.0),
        Err(ErrorCode::UnknownTopicOrPartition)
    );
}

#[actix::test]
async fn topics_and_the_cluster_id_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let (broker, _, cluster_id) = start(dir.path());
    let created = broker
        .send(create("kept", 2))
        .await
        .expect("mailbox")
        .expect("created");
    broker
        .send(CreatePartitions {
            name: "kept".into(),
            count: 4,
            assignments: None,
            validate_only: false,
        })
        .await
        .expect("mailbox")
        .expect("grown");
    let shrink = broker
        .send(CreatePartitions {
            name: "kept".into(),
            count: 1,
            assignments: None,
            validate_only: false,
        })
        .await
        .expect("mailbox");
    assert_eq!(shrink.map_err(|e| e.0), Err(ErrorCode::InvalidPartitions));
    broker.send(Shutdown).await.expect("mailbox");

    let (_, routing, cluster_id_again) = start(dir.path());
    assert_eq!(cluster_id, cluster_id_again);
    let routing = routing.load();
    let t = routing.topic("kept").expect("topic kept");
    assert_eq!(t.id, created.id);
    assert_eq!(t.partitions.len(), 4);
    assert_eq!(t.configs.get("retention.ms"), Some("60000"));
}

#[actix::test]
async fn validate_only_creates_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let (broker, routing, _) = start(dir.path());
    let mut req = create("dry", 2);
    req.validate_only = true;
    broker.send(req).await.expect("mailbox").expect("valid");
    assert!(routing.load().topic("dry").is_none());
    assert!(!dir.path().join("dry-0").exists());
}

#[test]
fn topic_names_follow_kafkas_rules() {
    assert!(validate_topic_name("a.b_c-9").is_ok());
    for bad in ["", ".", "..", "has space", "ümlaut", &"x".repeat(250)] {
        assert!(validate_topic_name(bad).is_err(), "{bad:?}");
    }
    assert!(validate_topic_name(&"x".repeat(249)).is_ok());
    assert!(collides("a.b", "a_b"));
    assert!(!collides("a.b", "a.b"));
}
