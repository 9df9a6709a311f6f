//! The codec against Kafka's own bytes, random round trips, and hostile input.
//!
//! Tests that read `../shared` (Kafka-authored vectors) pass over it, saying so, where a
//! clone has no `../shared`; with `AEON_REQUIRE_SHARED=1` (as `.ci/run` sets) its
//! absence fails.

use super::codec::{Decode, Encode};
use super::frame::{decode_request, encode_request, FrameError};
use super::messages::{ApiKey, Request, RequestHeader, Response, ResponseHeader};
use super::testing::{Gen, JsonField};
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use serde_json::Value;
use std::path::PathBuf;

/// `../shared/<sub>` when present; `None` (with a note) when a clone has no `../shared`.
pub(crate) fn shared_dir(sub: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("shared")
        .join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("AEON_REQUIRE_SHARED").as_deref() != Ok("1"),
        "AEON_REQUIRE_SHARED=1 but {} is missing",
        dir.display()
    );
    eprintln!(
        "note: {} is absent; skipping the tests that read it",
        dir.display()
    );
    None
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("vector hex is valid"))
        .collect()
}

/// Compares our JSON view with Kafka's, returning the path of the first difference.
/// Numbers compare by value (Kafka writes float64 as `1.0`, integers plainly).
fn json_diff(path: &str, ours: &Value, theirs: &Value) -> Option<String> {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get(k) {
                    Some(o) => {
                        if let Some(d) = json_diff(&format!("{path}.{k}"), o, v) {
                            return Some(d);
                        }
                    }
                    None => {
                        return Some(format!("{path}.{k}: Kafka has {v}, we have no such field"))
                    }
                }
            }
            // Fields Kafka leaves out are checked by the byte comparison.
            None
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!(
                    "{path}: {} elements, Kafka has {}",
                    a.len(),
                    b.len()
                ));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| json_diff(&format!("{path}[{i}]"), x, y))
        }
        (Value::Number(a), Value::Number(b)) => {
            let same = match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => a.as_f64() == b.as_f64(),
            };
            (!same).then(|| format!("{path}: we have {a}, Kafka has {b}"))
        }
        (a, b) => (a != b).then(|| format!("{path}: we have {a}, Kafka has {b}")),
    }
}

enum Target {
    Request(ApiKey),
    Response(ApiKey),
    RequestHeader,
    ResponseHeader,
}

fn target(message: &str) -> Option<Target> {
    match message {
        "RequestHeader" => return Some(Target::RequestHeader),
        "ResponseHeader" => return Some(Target::ResponseHeader),
        _ => {}
    }
    ApiKey::ALL.iter().find_map(|&k| {
        if message.strip_suffix("Request") == Some(k.name()) {
            Some(Target::Request(k))
        } else if message.strip_suffix("Response") == Some(k.name()) {
            Some(Target::Response(k))
        } else {
            None
        }
    })
}

/// Decodes `bytes` as `target` at `version`, checks the JSON view and the re-encoding.
fn check_vector(
    target: &Target,
    version: i16,
    bytes: &[u8],
    expected: &Value,
) -> Result<(), String> {
    let mut buf = Bytes::copy_from_slice(bytes);
    let (json, encoded, size) = match target {
        Target::Request(k) => {
            let m = Request::decode(*k, version, &mut buf).map_err(|e| format!("decode: {e}"))?;
            (
                m.to_json(version),
                m.encode_to_vec(version)?,
                m.encoded_size(version),
            )
        }
        Target::Response(k) => {
            let m = Response::decode(*k, version, &mut buf).map_err(|e| format!("decode: {e}"))?;
            (
                m.to_json(version),
                m.encode_to_vec(version)?,
                m.encoded_size(version),
            )
        }
        Target::RequestHeader => {
            let m = RequestHeader::decode(&mut buf, version).map_err(|e| format!("decode: {e}"))?;
            (
                m.to_json(version),
                encode_plain(&m, version)?,
                m.encoded_size(version),
            )
        }
        Target::ResponseHeader => {
            let m =
                ResponseHeader::decode(&mut buf, version).map_err(|e| format!("decode: {e}"))?;
            (
                m.to_json(version),
                encode_plain(&m, version)?,
                m.encoded_size(version),
            )
        }
    };
    if !buf.is_empty() {
        return Err(format!("{} bytes left after decoding", buf.len()));
    }
    if let Some(d) = json_diff("$", &json, expected) {
        return Err(format!("field mismatch at {d}"));
    }
    if encoded != bytes {
        return Err("re-encoding differs from Kafka's bytes".into());
    }
    if size != bytes.len() {
        return Err(format!("encoded_size {size} but {} bytes", bytes.len()));
    }
    Ok(())
}

fn encode_plain<T: Encode>(m: &T, version: i16) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    m.encode(&mut out, version)
        .map_err(|e| format!("encode: {e}"))?;
    Ok(out)
}

trait EncodeToVec {
    fn encode_to_vec(&self, version: i16) -> Result<Vec<u8>, String>;
}

impl EncodeToVec for Request {
    fn encode_to_vec(&self, version: i16) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        self.encode(&mut out, version)
            .map_err(|e| format!("encode: {e}"))?;
        Ok(out)
    }
}

impl EncodeToVec for Response {
    fn encode_to_vec(&self, version: i16) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        self.encode(&mut out, version)
            .map_err(|e| format!("encode: {e}"))?;
        Ok(out)
    }
}

fn served(target: &Target, version: i16) -> bool {
    match target {
        Target::Request(k) | Target::Response(k) => k.versions().contains(version),
        Target::RequestHeader => (1..=2).contains(&version),
        Target::ResponseHeader => (0..=1).contains(&version),
    }
}

#[test]
fn kafka_wire_vectors_decode_to_their_fields_and_reencode_to_the_same_bytes() {
    let Some(dir) = shared_dir("kafka-wire-vectors/messages") else {
        return;
    };
    let mut messages: Vec<_> = std::fs::read_dir(&dir)
        .expect("vector dir")
        .filter_map(|e| e.ok())
        .collect();
    messages.sort_by_key(|e| e.file_name());
    let (mut checked, mut skipped, mut failures) = (0usize, Vec::new(), Vec::new());
    let mut served_messages = 0;
    for msg in messages {
        let name = msg.file_name().to_string_lossy().to_string();
        let Some(t) = target(&name) else { continue };
        served_messages += 1;
        let mut files: Vec<_> = std::fs::read_dir(msg.path())
            .expect("message dir")
            .filter_map(|e| e.ok())
            .collect();
        files.sort_by_key(|e| e.file_name());
        for f in files {
            let doc: Value =
                serde_json::from_slice(&std::fs::read(f.path()).expect("read vector file"))
                    .expect("vector json");
            for v in doc["vectors"].as_array().expect("vectors array") {
                let version = v["version"].as_i64().expect("version") as i16;
                let vname = v["name"].as_str().unwrap_or("?");
                if !served(&t, version) {
                    skipped.push(format!("{name} v{version} {vname} (version not served)"));
                    continue;
                }
                let bytes = unhex(v["hex"].as_str().expect("hex"));
                match check_vector(&t, version, &bytes, &v["json_value"]) {
                    Ok(()) => checked += 1,
                    Err(e) => failures.push(format!("{name} v{version} {vname}: {e}")),
                }
            }
        }
    }
    println!(
        "kafka wire vectors: {checked} checked over {served_messages} served messages, {} skipped",
        skipped.len()
    );
    for s in &skipped {
        println!("  skipped: {s}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        checked + failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        served_messages,
        2 * ApiKey::ALL.len() + 2,
        "a served message has no vectors"
    );
    assert!(checked > 900, "only {checked} vectors checked");
}

fn round_trip(api: ApiKey, version: i16, seed: u64) -> Result<(), TestCaseError> {
    let mut g = Gen::new(seed);
    let req = Request::sample(api, version, &mut g);
    let bytes = req.to_bytes_at(version).map_err(TestCaseError::fail)?;
    prop_assert_eq!(
        bytes.len(),
        req.encoded_size(version),
        "{:?} v{} request size",
        api,
        version
    );
    let back = Request::decode(api, version, &mut bytes.freeze())
        .map_err(|e| TestCaseError::fail(format!("{api:?} v{version}: {e}")))?;
    prop_assert_eq!(&back, &req, "{:?} v{} request", api, version);

    let resp = Response::sample(api, version, &mut g);
    let mut out = BytesMut::new();
    resp.encode(&mut out, version)
        .map_err(|e| TestCaseError::fail(format!("{api:?} v{version}: {e}")))?;
    prop_assert_eq!(
        out.len(),
        resp.encoded_size(version),
        "{:?} v{} response size",
        api,
        version
    );
    let back = Response::decode(api, version, &mut out.freeze())
        .map_err(|e| TestCaseError::fail(format!("{api:?} v{version}: {e}")))?;
    prop_assert_eq!(&back, &resp, "{:?} v{} response", api, version);
    Ok(())
}

trait ToBytesAt {
    fn to_bytes_at(&self, version: i16) -> Result<BytesMut, String>;
}

impl ToBytesAt for Request {
    fn to_bytes_at(&self, version: i16) -> Result<BytesMut, String> {
        let mut out = BytesMut::with_capacity(self.encoded_size(version));
        self.encode(&mut out, version)
            .map_err(|e| format!("{:?} v{version}: {e}", self.api_key()))?;
        Ok(out)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_served_message_round_trips_at_every_served_version(seed in any::<u64>()) {
        for api in ApiKey::ALL {
            let r = api.versions();
            for version in r.min..=r.max {
                round_trip(api, version, seed ^ (api.code() as u64) << 16 ^ version as u64)?;
            }
        }
    }

    #[test]
    fn random_frames_never_panic_the_request_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_request(Bytes::from(bytes));
    }

    #[test]
    fn mutated_valid_frames_never_panic_any_decoder(
        seed in any::<u64>(),
        api_index in 0usize..ApiKey::ALL.len(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let api = ApiKey::ALL[api_index];
        let mut g = Gen::new(seed);
        let r = api.versions();
        let version = r.min + (g.next_u64() % (r.max - r.min + 1) as u64) as i16;
        let header = RequestHeader { request_api_key: api.code(), request_api_version: version, correlation_id: 7, client_id: Some("fuzz".into()), ..Default::default() };
        let body = Request::sample(api, version, &mut g);
        let frame = encode_request(&header, &body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut bytes = frame[4..].to_vec();
        for (pos, x) in flips {
            let n = bytes.len();
            bytes[pos % n] ^= x;
        }
        bytes.truncate(cut % (bytes.len() + 1));
        let bytes = Bytes::from(bytes);
        let _ = decode_request(bytes.clone());
        // The same bytes read as every API at every version, past the header.
        for other in ApiKey::ALL {
            let r = other.versions();
            for v in r.min..=r.max {
                let _ = Request::decode(other, v, &mut bytes.clone());
                let _ = Response::decode(other, v, &mut bytes.clone());
            }
        }
    }
}

#[test]
fn decoded_records_point_into_the_request_buffer() {
    use super::messages::produce_request::{
        PartitionProduceData, ProduceRequest, TopicProduceData,
    };
    let records = Bytes::from(vec![0xab; 1 << 20]);
    let req = ProduceRequest {
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: "t".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(records),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let header = RequestHeader {
        request_api_key: 0,
        request_api_version: 9,
        correlation_id: 1,
        client_id: None,
        ..Default::default()
    };
    let frame = encode_request(&header, &req.into())
        .expect("encode")
        .freeze()
        .slice(4..);
    let range = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
    let decoded = decode_request(frame.clone()).expect("decode");
    let Request::Produce(p) = decoded.body else {
        panic!("not a produce request")
    };
    let got = p.topic_data[0].partition_data[0]
        .records
        .as_ref()
        .expect("records");
    assert_eq!(got.len(), 1 << 20);
    let start = got.as_ptr() as usize;
    assert!(
        range.contains(&start) && range.contains(&(start + got.len() - 1)),
        "records were copied"
    );
}

#[test]
fn unknown_api_keys_and_unsupported_versions_keep_the_correlation_id() {
    let frame = Bytes::from_static(&[0x7f, 0x00, 0, 1, 0, 0, 0, 42, 0xff, 0xff]);
    assert_eq!(
        decode_request(frame),
        Err(FrameError::UnknownApiKey {
            api_key: 0x7f00,
            correlation_id: 42
        })
    );
    let frame = Bytes::from_static(&[0, 18, 0, 99, 0, 0, 0, 43, 0xff, 0xff]);
    assert_eq!(
        decode_request(frame),
        Err(FrameError::UnsupportedVersion {
            api_key: ApiKey::ApiVersions,
            version: 99,
            correlation_id: 43
        })
    );
    // Produce v0-2 are advertised but not decoded (KIP-896).
    let frame = Bytes::from_static(&[0, 0, 0, 2, 0, 0, 0, 44, 0xff, 0xff]);
    assert!(matches!(
        decode_request(frame),
        Err(FrameError::UnsupportedVersion { version: 2, .. })
    ));
    assert_eq!(ApiKey::Produce.advertised_versions().min, 0);
}

#[test]
fn an_unstable_latest_version_is_not_served() {
    // InitProducerId's schema marks its latest version unstable.
    let schema_max = 6;
    assert_eq!(ApiKey::InitProducerId.versions().max, schema_max - 1);
}

#[test]
fn hostile_lengths_are_errors_not_allocations() {
    // A Metadata v0 request whose topic array claims i32::MAX elements.
    let mut buf = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0, 1, b'a']);
    let e = Request::decode(ApiKey::Metadata, 0, &mut buf).expect_err("must fail");
    assert!(
        matches!(e.root(), super::codec::DecodeError::InvalidLength { .. }),
        "{e}"
    );
    // A compact string that claims 4 GiB.
    let mut buf = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    let e = Request::decode(ApiKey::FindCoordinator, 3, &mut buf).expect_err("must fail");
    assert!(
        matches!(e.root(), super::codec::DecodeError::InvalidLength { .. }),
        "{e}"
    );
}

#[test]
fn writing_a_set_field_into_a_version_without_it_is_an_error_unless_ignorable() {
    use super::messages::metadata_request::MetadataRequest;
    // AllowAutoTopicCreation is v4+ and not ignorable.
    let req = MetadataRequest {
        allow_auto_topic_creation: false,
        ..Default::default()
    };
    assert!(req.to_bytes(3).is_err());
    assert!(req.to_bytes(4).is_ok());
}

#[test]
fn defaults_follow_the_schema() {
    use super::messages::fetch_request::FetchRequest;
    let f = FetchRequest::default();
    assert_eq!(f.replica_id, -1);
    assert_eq!(f.max_bytes, 0x7fff_ffff);
    assert_eq!(f.session_epoch, -1);
    assert_eq!(f.cluster_id, None);
    let json = f.to_json(12);
    assert_eq!(json["maxBytes"], 0x7fff_ffff);
}
