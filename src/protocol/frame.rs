//! Request and response frames: the header, the body, and which versions Aeon serves.
//!
//! On the wire a frame is a 4-byte big-endian size, then a header, then the body. The
//! header version follows from the body version: flexible versions (KIP-482) use request
//! header v2 and response header v1; the others use v1 and v0. An ApiVersions response
//! always uses header v0, so a client that does not yet know the broker's versions can
//! read it. The frame size is read and capped by the connection; these functions see
//! the bytes after it.

use super::codec::{Decode, DecodeError, Encode, EncodeError, WireWrite};
use super::messages::{ApiKey, Request, RequestHeader, Response, ResponseHeader};
use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

/// An inclusive range of API versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    pub min: i16,
    pub max: i16,
}

impl VersionRange {
    pub const fn new(min: i16, max: i16) -> Self {
        VersionRange { min, max }
    }

    pub fn contains(&self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }
}

impl ApiKey {
    /// True when `version` of this API is flexible (compact types, tagged fields).
    pub fn is_flexible(self, version: i16) -> bool {
        self.first_flexible_version().is_some_and(|f| version >= f)
    }

    pub fn request_header_version(self, version: i16) -> i16 {
        if self.is_flexible(version) {
            2
        } else {
            1
        }
    }

    pub fn response_header_version(self, version: i16) -> i16 {
        if self != ApiKey::ApiVersions && self.is_flexible(version) {
            1
        } else {
            0
        }
    }

    /// The range ApiVersions advertises. It is [`ApiKey::versions`] except for Produce,
    /// which Kafka 4.x advertises from v0 although v0-2 are rejected (KAFKA-18659):
    /// librdkafka before 2.11 reads a Produce minimum above 0 as "no compression"; and
    /// for the transaction APIs whose newest versions mean Transactions V2.
    pub fn advertised_versions(self) -> VersionRange {
        let served = self.versions();
        match self {
            ApiKey::Produce => VersionRange::new(0, served.max),
            // Transactions V2 (KIP-890 part 2: an epoch bump on every transaction) is not
            // implemented, so the versions that mean it are neither offered nor taken.
            ApiKey::EndTxn | ApiKey::TxnOffsetCommit => {
                VersionRange::new(served.min, served.max.min(4))
            }
            _ => served,
        }
    }
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestFrame {
    pub api_key: ApiKey,
    pub header: RequestHeader,
    pub body: Request,
}

impl RequestFrame {
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }

    pub fn correlation_id(&self) -> i32 {
        self.header.correlation_id
    }
}

/// Why a request frame could not be decoded. Each variant keeps what is needed to
/// answer or log it: the correlation id when the header got that far.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame of {0} bytes is shorter than a request header")]
    TooShort(usize),
    #[error("unknown API key {api_key}")]
    UnknownApiKey { api_key: i16, correlation_id: i32 },
    #[error("{api_key:?} version {version} is not supported")]
    UnsupportedVersion {
        api_key: ApiKey,
        version: i16,
        correlation_id: i32,
    },
    #[error("malformed request header: {0}")]
    Header(DecodeError),
    #[error("malformed {api_key:?} v{version} request: {source}")]
    Body {
        api_key: ApiKey,
        version: i16,
        correlation_id: i32,
        source: DecodeError,
    },
}

/// The fixed start of every request header: API key, API version, correlation id.
const HEADER_PREFIX: usize = 8;

/// Decodes one request frame (the bytes after the size). Record data in the body stays
/// a slice of `frame`.
pub fn decode_request(mut frame: Bytes) -> Result<RequestFrame, FrameError> {
    if frame.len() < HEADER_PREFIX {
        return Err(FrameError::TooShort(frame.len()));
    }
    let mut prefix = &frame[..HEADER_PREFIX];
    let code = prefix.get_i16();
    let version = prefix.get_i16();
    let correlation_id = prefix.get_i32();
    let api_key = ApiKey::from_code(code).ok_or(FrameError::UnknownApiKey {
        api_key: code,
        correlation_id,
    })?;
    if !api_key.versions().contains(version) || version > api_key.advertised_versions().max {
        return Err(FrameError::UnsupportedVersion {
            api_key,
            version,
            correlation_id,
        });
    }
    let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))
        .map_err(FrameError::Header)?;
    let body =
        Request::decode(api_key, version, &mut frame).map_err(|source| FrameError::Body {
            api_key,
            version,
            correlation_id,
            source,
        })?;
    Ok(RequestFrame {
        api_key,
        header,
        body,
    })
}

/// Encodes a request frame, size prefix included (for clients and tests).
pub fn encode_request(header: &RequestHeader, body: &Request) -> Result<BytesMut, EncodeError> {
    let api_key = body.api_key();
    let version = header.request_api_version;
    let header_version = api_key.request_header_version(version);
    let size = header.encoded_size(header_version) + body.encoded_size(version);
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put(&frame_size(size)?.to_be_bytes());
    header.encode(&mut buf, header_version)?;
    body.encode(&mut buf, version)?;
    Ok(buf)
}

/// Encodes a response frame, size prefix included, into a buffer sized once.
pub fn encode_response(
    correlation_id: i32,
    version: i16,
    body: &Response,
) -> Result<BytesMut, EncodeError> {
    let mut buf = BytesMut::new();
    write_response(&mut buf, correlation_id, version, body)?;
    Ok(buf)
}

/// Encodes a response frame as chunks for a vectored write: record data stays the
/// `Bytes` it was (a slice of a segment's mmap), never copied into the frame.
pub fn encode_response_chunks(
    correlation_id: i32,
    version: i16,
    body: &Response,
) -> Result<FrameChunks, EncodeError> {
    let mut chunks = FrameChunks::default();
    write_response(&mut chunks, correlation_id, version, body)?;
    chunks.finish();
    Ok(chunks)
}

fn write_response<W: WireWrite + Reserve>(
    w: &mut W,
    correlation_id: i32,
    version: i16,
    body: &Response,
) -> Result<(), EncodeError> {
    let header = ResponseHeader {
        correlation_id,
        ..Default::default()
    };
    let header_version = body.api_key().response_header_version(version);
    let size = header.encoded_size(header_version) + body.encoded_size(version);
    w.reserve_total(4 + size);
    w.put(&frame_size(size)?.to_be_bytes());
    header.encode(w, header_version)?;
    body.encode(w, version)
}

/// Sizing a buffer once before writing into it.
trait Reserve {
    fn reserve_total(&mut self, size: usize);
}

impl Reserve for BytesMut {
    fn reserve_total(&mut self, size: usize) {
        self.reserve(size);
    }
}

impl Reserve for FrameChunks {
    fn reserve_total(&mut self, _: usize) {}
}

/// Shared bytes smaller than this are copied into the current chunk: a separate
/// I/O slice costs more than the copy.
const MIN_SHARED_CHUNK: usize = 4096;

/// An encoded frame as a list of chunks: small parts are gathered in one buffer, large
/// shared record data is kept by reference.
#[derive(Debug, Default)]
pub struct FrameChunks {
    chunks: Vec<Bytes>,
    current: BytesMut,
}

impl FrameChunks {
    fn finish(&mut self) {
        if !self.current.is_empty() {
            self.chunks.push(self.current.split().freeze());
        }
    }

    /// The chunks, in order.
    pub fn into_chunks(self) -> Vec<Bytes> {
        self.chunks
    }

    /// The total length in bytes.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(Bytes::len).sum::<usize>() + self.current.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl WireWrite for FrameChunks {
    fn put(&mut self, bytes: &[u8]) {
        self.current.extend_from_slice(bytes);
    }

    fn put_shared(&mut self, bytes: &Bytes) {
        if bytes.len() < MIN_SHARED_CHUNK {
            return self.put(bytes);
        }
        self.finish();
        self.chunks.push(bytes.clone());
    }
}

/// Decodes a response frame (the bytes after the size) for a request of `api_key` at
/// `version` (for clients and tests).
pub fn decode_response(
    api_key: ApiKey,
    version: i16,
    mut frame: Bytes,
) -> Result<(ResponseHeader, Response), DecodeError> {
    let header = ResponseHeader::decode(&mut frame, api_key.response_header_version(version))?;
    let body = Response::decode(api_key, version, &mut frame)?;
    Ok((header, body))
}

fn frame_size(size: usize) -> Result<i32, EncodeError> {
    i32::try_from(size).map_err(|_| EncodeError::TooLong {
        length: size,
        max: i32::MAX as usize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::fetch_response::{
        FetchResponse, FetchableTopicResponse, PartitionData,
    };

    #[test]
    fn response_chunks_keep_record_data_by_reference_and_equal_the_flat_encoding() {
        let records = Bytes::from(vec![7u8; 1 << 20]);
        let response: Response = FetchResponse {
            responses: vec![FetchableTopicResponse {
                topic: "t".into(),
                partitions: vec![PartitionData {
                    records: Some(records.clone()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
        .into();
        let flat = encode_response(9, 12, &response).expect("flat");
        let chunks = encode_response_chunks(9, 12, &response)
            .expect("chunks")
            .into_chunks();
        assert!(
            chunks
                .iter()
                .any(|c| c.as_ptr() == records.as_ptr() && c.len() == records.len()),
            "records are not copied"
        );
        let joined: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        assert_eq!(joined, flat.to_vec());
    }
}
