//! A connection from this broker to another broker's PLAINTEXT listener, speaking
//! Kafka's protocol one request at a time: what replica fetchers, transaction markers
//! (WriteTxnMarkers) and transaction verification (AddPartitionsToTxn, verify only)
//! are sent over, as Kafka's inter-broker clients do.

use crate::cluster::MetadataImage;
use crate::protocol::frame::{decode_response, encode_request};
use crate::protocol::messages::RequestHeader;
use crate::protocol::{Request, Response};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Kafka's `SecurityProtocol` id of PLAINTEXT.
const PLAINTEXT: i16 = 0;
/// The largest answer read (a replica fetch asks for at most
/// `replica.fetch.response.max.bytes`, far below).
const MAX_FRAME: usize = 256 << 20;

/// Why a request to another broker got no answer.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("broker {0} has no PLAINTEXT endpoint")]
    NoEndpoint(i32),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Protocol(String),
}

/// One connection to another broker.
pub struct PeerConnection {
    stream: TcpStream,
    correlation_id: i32,
    client_id: String,
}

impl PeerConnection {
    /// Connects to `broker`'s PLAINTEXT listener as the image registers it.
    pub async fn connect(
        image: &MetadataImage,
        broker: i32,
        client_id: String,
        timeout: Duration,
    ) -> Result<PeerConnection, PeerError> {
        let endpoint = image
            .brokers
            .get(&broker)
            .and_then(|b| {
                b.endpoints
                    .iter()
                    .find(|e| e.security_protocol == PLAINTEXT)
            })
            .ok_or(PeerError::NoEndpoint(broker))?;
        let address = format!("{}:{}", endpoint.host, endpoint.port);
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| PeerError::Protocol("connecting timed out".into()))??;
        stream.set_nodelay(true)?;
        Ok(PeerConnection {
            stream,
            correlation_id: 0,
            client_id,
        })
    }

    /// Sends `body` at `version` and reads its answer, within `timeout`.
    pub async fn call(
        &mut self,
        version: i16,
        body: Request,
        timeout: Duration,
    ) -> Result<Response, PeerError> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let api_key = body.api_key();
        let header = RequestHeader {
            request_api_key: api_key.code(),
            request_api_version: version,
            correlation_id: self.correlation_id,
            client_id: Some(self.client_id.clone()),
            ..Default::default()
        };
        let frame =
            encode_request(&header, &body).map_err(|e| PeerError::Protocol(e.to_string()))?;
        let exchange = async {
            self.stream.write_all(&frame).await?;
            let size = self.stream.read_i32().await?;
            let size = usize::try_from(size)
                .ok()
                .filter(|&s| s <= MAX_FRAME)
                .ok_or_else(|| PeerError::Protocol(format!("answer of {size} bytes")))?;
            let mut buf = vec![0u8; size];
            self.stream.read_exact(&mut buf).await?;
            Ok::<_, PeerError>(buf)
        };
        let buf = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| PeerError::Protocol("the broker did not answer in time".into()))??;
        let (header, response) = decode_response(api_key, version, buf.into())
            .map_err(|e| PeerError::Protocol(e.to_string()))?;
        if header.correlation_id != self.correlation_id {
            return Err(PeerError::Protocol("answer to another request".into()));
        }
        Ok(response)
    }
}
