//! A consumer group with the real rdkafka client: join, assignment, consumption and
//! commits through the group coordinator.

mod common;

use common::{consume, group_consumer, produce_all, TestBroker};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::producer::BaseRecord;
use rdkafka::{Offset, TopicPartitionList};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

fn fast_groups(c: &mut aeon::config::Config) {
    c.set("group.initial.rebalance.delay.ms", "0").expect("set");
}

#[test]
fn a_group_consumer_receives_exactly_the_produced_messages_and_commits() {
    let broker = TestBroker::start_with(fast_groups);
    broker.create_topic("group-topic", 1);
    let producer = broker.producer(&[]);
    let values: Vec<Vec<u8>> = (0..10)
        .map(|i| format!("message {i}").into_bytes())
        .collect();
    produce_all(
        &producer,
        values
            .iter()
            .map(|v| BaseRecord::<[u8], [u8]>::to("group-topic").payload(v.as_slice())),
    );

    let consumer = group_consumer(&broker, "group-a", &["group-topic"], &[]);
    let got = consume(&consumer, 10, TIMEOUT);
    let got_values: Vec<Vec<u8>> = got.iter().filter_map(|g| g.value.clone()).collect();
    assert_eq!(
        got_values, values,
        "exactly the 10 produced messages, in order"
    );
    assert!(
        consume(&consumer, 1, Duration::from_secs(1)).is_empty(),
        "nothing more"
    );
    consumer
        .commit_consumer_state(CommitMode::Sync)
        .expect("commit");

    let mut tpl = TopicPartitionList::new();
    tpl.add_partition("group-topic", 0);
    let committed = consumer
        .committed_offsets(tpl, TIMEOUT)
        .expect("committed offsets");
    assert_eq!(committed.elements()[0].offset(), Offset::Offset(10));
}
