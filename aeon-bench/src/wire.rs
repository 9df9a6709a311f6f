//! Kafka connections without a client library: request frames written and response
//! frames read on a tokio socket, with Aeon's codec. One process holds a thousand of
//! them on one thread, where a thousand librdkafka instances (threads of their own each)
//! would measure the tool instead of the broker.

use aeon::protocol::frame::{decode_response, encode_request};
use aeon::protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use aeon::protocol::messages::fetch_response::FetchResponse;
use aeon::protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use aeon::protocol::messages::RequestHeader;
use aeon::protocol::records::{BatchIter, RecordBatchBuilder, RecordSpec};
use aeon::protocol::{ErrorCode, Request, Response};
use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The largest response frame read; a larger size is an error, not an allocation.
const MAX_RESPONSE: usize = 256 << 20;

/// One connection: requests are sent one at a time and answered in order.
pub struct Wire {
    stream: BufReader<TcpStream>,
    correlation: i32,
}

impl Wire {
    pub async fn connect(addr: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
            correlation: 0,
        })
    }

    /// Sends `body` at `version` and reads its response.
    pub async fn call(
        &mut self,
        version: i16,
        body: impl Into<Request>,
    ) -> anyhow::Result<Response> {
        let body = body.into();
        let api = body.api_key();
        self.correlation = self.correlation.wrapping_add(1);
        let header = RequestHeader {
            request_api_key: api.code(),
            request_api_version: version,
            correlation_id: self.correlation,
            client_id: Some("aeon-bench".into()),
            ..Default::default()
        };
        let frame = encode_request(&header, &body)?;
        self.stream.get_mut().write_all(&frame).await?;
        let size = usize::try_from(self.stream.read_i32().await?)
            .map_err(|_| anyhow!("{api:?}: a negative response size"))?;
        if size > MAX_RESPONSE {
            bail!("{api:?}: a response of {size} bytes");
        }
        let mut buf = vec![0u8; size];
        self.stream.read_exact(&mut buf).await?;
        let (header, response) = decode_response(api, version, Bytes::from(buf))
            .map_err(|e| anyhow!("{api:?} v{version}: {e}"))?;
        if header.correlation_id != self.correlation {
            bail!("{api:?}: the answer to another request");
        }
        Ok(response)
    }
}

/// A `Response` of the expected kind, or an error naming what came instead.
macro_rules! answer {
    ($response:expr, $kind:ident) => {
        match $response {
            aeon::protocol::Response::$kind(r) => Ok(r),
            other => Err(anyhow::anyhow!(
                "expected {} and got {:?}",
                stringify!($kind),
                other.api_key()
            )),
        }
    };
}
pub(crate) use answer;

/// An error code as a result.
pub fn check(code: i16, what: &str) -> anyhow::Result<()> {
    match ErrorCode::from_code(code) {
        Some(ErrorCode::None) => Ok(()),
        Some(e) => bail!("{what}: {}", e.name()),
        None => bail!("{what}: error code {code}"),
    }
}

/// Produce v9 (flexible, topic names), which every broker of the 3.x and 4.x lines serves.
pub const PRODUCE_VERSION: i16 = 9;
/// Fetch v12 (flexible, topic names).
pub const FETCH_VERSION: i16 = 12;

/// A batch of `count` records of `size` bytes; each value starts with `stamp` (the
/// sender's clock, for end-to-end latency), the rest is zeros.
pub fn batch(count: usize, size: usize, stamp: u64) -> Vec<u8> {
    let mut value = vec![0u8; size.max(8)];
    value[..8].copy_from_slice(&stamp.to_be_bytes());
    let mut builder = RecordBatchBuilder::new(0, 0);
    for i in 0..count {
        builder = builder.record(
            RecordSpec::new(None, Some(&value)).offset_delta(i32::try_from(i).unwrap_or(i32::MAX)),
        );
    }
    builder.build()
}

/// One batch to one partition; the partition's base offset, or its error.
pub async fn produce(
    wire: &mut Wire,
    topic: &str,
    partition: i32,
    acks: i16,
    batch: Bytes,
) -> anyhow::Result<i64> {
    let request = ProduceRequest {
        acks,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: topic.into(),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(batch),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = answer!(wire.call(PRODUCE_VERSION, request).await?, Produce)?;
    let answer = response
        .responses
        .first()
        .and_then(|t| t.partition_responses.first())
        .ok_or_else(|| anyhow!("a produce response without the partition"))?;
    check(answer.error_code, "produce")?;
    Ok(answer.base_offset)
}

/// A fetch of `offsets` (partition, offset) of `topic`, waiting up to `max_wait_ms`
/// for a byte.
pub async fn fetch(
    wire: &mut Wire,
    topic: &str,
    offsets: &[(i32, i64)],
    max_wait_ms: i32,
) -> anyhow::Result<FetchResponse> {
    let request = FetchRequest {
        replica_id: -1,
        max_wait_ms,
        min_bytes: 1,
        max_bytes: 32 << 20,
        topics: vec![FetchTopic {
            topic: topic.into(),
            partitions: offsets
                .iter()
                .map(|&(partition, fetch_offset)| FetchPartition {
                    partition,
                    fetch_offset,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    answer!(wire.call(FETCH_VERSION, request).await?, Fetch)
}

/// What a fetch returned for one partition: records, the offset after the last, and
/// each record's stamp (see [`batch`]).
pub fn read_records(
    records: &[u8],
    mut stamp: impl FnMut(u64),
) -> anyhow::Result<(u64, Option<i64>)> {
    let mut count = 0;
    let mut next = None;
    for batch in BatchIter::new(records) {
        for record in batch.records()? {
            let record = record?;
            if let Some(v) = record.value.and_then(|v| v.get(..8)) {
                stamp(u64::from_be_bytes(v.try_into()?));
            }
            count += 1;
        }
        next = Some(batch.next_offset());
    }
    Ok((count, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_reads_back_with_every_record_and_its_stamp() {
        let mut one = batch(3, 100, 42);
        // As a broker stores it: at offset 10.
        aeon::protocol::records::set_base_offset(&mut one, 10).unwrap();
        let mut two = batch(1, 8, 7);
        aeon::protocol::records::set_base_offset(&mut two, 13).unwrap();
        let mut records = one;
        records.extend_from_slice(&two);
        let mut stamps = Vec::new();
        let (count, next) = read_records(&records, |s| stamps.push(s)).unwrap();
        assert_eq!((count, next), (4, Some(14)));
        assert_eq!(stamps, [42, 42, 42, 7]);
        // A batch cut short by the fetch size is not counted.
        let (count, next) = read_records(&records[..records.len() - 1], |_| ()).unwrap();
        assert_eq!((count, next), (3, Some(13)));
        assert_eq!(read_records(&[], |_| ()).unwrap(), (0, None));
    }
}
