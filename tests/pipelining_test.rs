//! Pipelined produce requests on one connection are appended in request order, as
//! Kafka promises (a producer with several requests in flight and no retries keeps
//! its order). `tests/crash_test.rs` saw two acknowledged messages of one producer
//! stored swapped; the connection actor spawned one future per request, and actix
//! polls spawned futures in a list it reorders (swap_remove), so a later request could
//! send its Append before an earlier one. The connection now makes each request's
//! first poll (where a produce sends its Appends) in arrival order. This test states
//! the guarantee; it did not reproduce the swap on its own (the crash test did, about
//! one run in three).

mod common;

use aeon::protocol::frame::decode_response;
use aeon::protocol::messages::produce_request::ProduceRequest;
use aeon::protocol::records::{RecordBatchBuilder, RecordSpec};
use aeon::protocol::{ApiKey, Response};
use common::{connect, read_frame, request_frame, TestBroker};

fn produce(seq: usize) -> ProduceRequest {
    let batch = RecordBatchBuilder::new(0, 1_700_000_000_000)
        .record(RecordSpec::new(None, Some(format!("seq-{seq}").as_bytes())))
        .build();
    common::produce_request("ordered", 0, None, -1, batch)
}

#[test]
fn pipelined_produce_requests_are_appended_in_request_order() {
    let broker = TestBroker::start_with(|c| {
        c.set("log.flush.before.ack", "true").expect("set");
    });
    broker.create_topic("ordered", 1);
    let mut s = connect(&broker.bootstrap());
    const N: usize = 2000;
    let mut writer = s.try_clone().expect("clone");
    // All requests in one write, so the broker reads many frames at a time.
    let mut all = Vec::new();
    for seq in 0..N {
        all.extend_from_slice(&request_frame(3, seq as i32, produce(seq).into()));
    }
    let w = std::thread::spawn(move || {
        use std::io::Write;
        writer.write_all(&all).expect("write");
    });
    let mut misordered = Vec::new();
    for seq in 0..N {
        let (header, body) =
            decode_response(ApiKey::Produce, 3, read_frame(&mut s)).expect("response");
        assert_eq!(header.correlation_id, seq as i32);
        let Response::Produce(r) = body else {
            panic!("not a produce response")
        };
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(p.error_code, 0);
        if p.base_offset != seq as i64 {
            misordered.push((seq, p.base_offset));
        }
    }
    w.join().expect("writer");
    assert!(
        misordered.is_empty(),
        "requests appended out of order (request, offset): {:?}",
        &misordered[..misordered.len().min(10)]
    );
}
