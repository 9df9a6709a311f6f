//! Controller-to-controller (and broker-to-controller) traffic on the controller
//! listener: length-prefixed frames of JSON, one request and its response at a time
//! per connection. openraft's messages, proposals forwarded to the leader, and broker
//! heartbeats.

use super::image::ApplyError;
use super::store::{MetadataBatch, NodeId, TypeConfig};
use futures::{SinkExt, StreamExt};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// The largest frame either side reads: a snapshot chunk or a batch of entries.
pub const MAX_FRAME: usize = 16 << 20;

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A batch for the leader to commit.
    Propose(MetadataBatch),
    /// A broker is alive, at its registration's epoch.
    Heartbeat {
        broker_id: i32,
        epoch: u64,
    },
    /// The quorum as the leader sees it (DescribeQuorum).
    DescribeQuorum,
    /// A broker that is not a voter asks to follow the log, as a learner reached at
    /// `addr`.
    AddLearner {
        id: NodeId,
        addr: String,
    },
}

/// Why a proposal was not committed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ProposeError {
    #[error("no controller leads the metadata quorum now")]
    NoLeader,
    #[error("node {0} does not lead the metadata quorum")]
    NotLeader(NodeId),
    #[error("the metadata quorum did not answer: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Rejected(#[from] ApplyError),
}

impl ProposeError {
    /// A node answered with something other than what was asked.
    pub fn unexpected() -> Self {
        ProposeError::Unavailable("unexpected answer".into())
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    /// The log index the batch was committed at, or why not.
    Proposed(Result<u64, ProposeError>),
    Heartbeat(Result<(), ProposeError>),
    Quorum(Result<super::QuorumState, ProposeError>),
    LearnerAdded(Result<(), ProposeError>),
}

fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec()
}

/// A connection to one node's controller listener, made on first use and again after
/// any failure.
///
/// Answers carry no request id: the answer read is the answer to the request sent
/// only if every exchange on the connection ran to its end. A caller may drop a call
/// midway (openraft wraps each RPC in its own timeout, which can fire before ours), so
/// an exchange marks the connection busy while it runs, and a call that finds it busy
/// starts on a new connection. Otherwise the next request would read the answer left
/// unread (a stale AppendEntries success counted for entries the follower never
/// took).
pub struct Client {
    addr: String,
    conn: Option<Framed<TcpStream, LengthDelimitedCodec>>,
    /// An exchange began and has not ended: its answer may still be on the way.
    busy: bool,
}

impl Client {
    pub fn new(addr: String) -> Self {
        Client {
            addr,
            conn: None,
            busy: false,
        }
    }

    /// [`Client::call`], a failure to answer being the quorum's unavailability.
    pub async fn ask(
        &mut self,
        request: &Request,
        timeout: Duration,
    ) -> Result<Response, ProposeError> {
        self.call(request, timeout)
            .await
            .map_err(|e| ProposeError::Unavailable(e.to_string()))
    }

    /// Sends `request` and waits up to `timeout` for its response.
    pub async fn call(
        &mut self,
        request: &Request,
        timeout: Duration,
    ) -> std::io::Result<Response> {
        let bytes = serde_json::to_vec(request).map_err(std::io::Error::other)?;
        let result = tokio::time::timeout(timeout, self.exchange(bytes)).await;
        let result = match result {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{} did not answer in {timeout:?}", self.addr),
            )),
        };
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    async fn exchange(&mut self, bytes: Vec<u8>) -> std::io::Result<Response> {
        if std::mem::replace(&mut self.busy, true) {
            self.conn = None;
        }
        let answer = self.send_and_read(bytes).await;
        self.busy = false;
        answer
    }

    async fn send_and_read(&mut self, bytes: Vec<u8>) -> std::io::Result<Response> {
        if self.conn.is_none() {
            let stream = TcpStream::connect(&self.addr).await?;
            stream.set_nodelay(true)?;
            self.conn = Some(Framed::new(stream, codec()));
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(std::io::Error::other("not connected"));
        };
        conn.send(bytes::Bytes::from(bytes)).await?;
        let frame = conn
            .next()
            .await
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"))??;
        serde_json::from_slice(&frame)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

/// What answers requests on the controller listener.
pub trait Serve: Clone + Send + 'static {
    fn serve(&self, request: Request) -> impl std::future::Future<Output = Response> + Send;
}

/// Accepts connections on `listener` and answers each request with `server`.
pub async fn run<S: Serve>(listener: tokio::net::TcpListener, server: S) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "controller listener accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let server = server.clone();
        tokio::spawn(async move {
            let mut conn = Framed::new(stream, codec());
            while let Some(frame) = conn.next().await {
                let request = match frame
                    .map_err(|e| e.to_string())
                    .and_then(|f| serde_json::from_slice::<Request>(&f).map_err(|e| e.to_string()))
                {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(%peer, error = %e, "bad request on the controller listener; closing");
                        return;
                    }
                };
                let response = server.serve(request).await;
                let Ok(bytes) = serde_json::to_vec(&response) else {
                    return;
                };
                if conn.send(bytes::Bytes::from(bytes)).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// openraft's view of the other controllers: dialled at the addresses
/// `controller.quorum.voters` gives (the membership's own addresses are those of the
/// voter that formed the quorum; this node's configuration says how it reaches each).
pub struct Network {
    pub voters: std::collections::BTreeMap<i32, String>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        let addr = i32::try_from(target)
            .ok()
            .and_then(|id| self.voters.get(&id))
            .cloned()
            .unwrap_or_else(|| node.addr.clone());
        Peer {
            target,
            client: Client::new(addr),
        }
    }
}

pub struct Peer {
    target: NodeId,
    client: Client,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl Peer {
    async fn ask(
        &mut self,
        request: Request,
        option: &RPCOption,
    ) -> Result<Response, std::io::Error> {
        self.client.call(&request, option.hard_ttl()).await
    }

    fn unreachable<E: std::error::Error>(e: std::io::Error) -> RPCError<NodeId, BasicNode, E> {
        if e.kind() == std::io::ErrorKind::InvalidData {
            RPCError::Network(NetworkError::new(&e))
        } else {
            RPCError::Unreachable(Unreachable::new(&e))
        }
    }

    fn unexpected<E: std::error::Error>() -> RPCError<NodeId, BasicNode, E> {
        let e = std::io::Error::new(std::io::ErrorKind::InvalidData, "unexpected response");
        RPCError::Network(NetworkError::new(&e))
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        match self
            .ask(Request::AppendEntries(rpc), &option)
            .await
            .map_err(Self::unreachable)?
        {
            Response::AppendEntries(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(Self::unexpected()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        match self
            .ask(Request::InstallSnapshot(rpc), &option)
            .await
            .map_err(Self::unreachable)?
        {
            Response::InstallSnapshot(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(Self::unexpected()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        match self
            .ask(Request::Vote(rpc), &option)
            .await
            .map_err(Self::unreachable)?
        {
            Response::Vote(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(Self::unexpected()),
        }
    }

    fn backoff(&self) -> openraft::network::Backoff {
        openraft::network::Backoff::new(std::iter::repeat(Duration::from_millis(200)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers a heartbeat late and anything else at once.
    #[derive(Clone)]
    struct SlowHeartbeats;

    impl Serve for SlowHeartbeats {
        async fn serve(&self, request: Request) -> Response {
            match request {
                Request::Heartbeat { .. } => {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Response::Heartbeat(Ok(()))
                }
                _ => Response::Quorum(Err(ProposeError::NoLeader)),
            }
        }
    }

    #[tokio::test]
    async fn a_call_dropped_midway_leaves_no_answer_for_the_next_one() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        tokio::spawn(run(listener, SlowHeartbeats));
        let mut client = Client::new(addr);
        let heartbeat = Request::Heartbeat {
            broker_id: 1,
            epoch: 1,
        };
        // The caller gives up before the answer comes (as openraft's own timeout does).
        let dropped = tokio::time::timeout(
            Duration::from_millis(50),
            client.call(&heartbeat, Duration::from_secs(5)),
        )
        .await;
        assert!(dropped.is_err(), "the first call was dropped midway");
        tokio::time::sleep(Duration::from_millis(400)).await;
        let answer = client
            .call(&Request::DescribeQuorum, Duration::from_secs(5))
            .await
            .expect("answered");
        assert!(
            matches!(answer, Response::Quorum(_)),
            "the answer to this request, not the heartbeat's: {answer:?}"
        );
    }
}
