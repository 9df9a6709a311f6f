//! `ConnectionActor`: one per client socket.
//!
//! Frames are read by [`read_frame`]: the size prefix is checked against
//! `socket.request.max.bytes`, and the frame's buffer grows as its bytes arrive, never
//! reserved ahead from what the prefix claims. Those bytes come out of the broker-wide
//! [`RequestMemory`] (`queued.max.request.bytes`): a large frame takes its share as its
//! bytes arrive and waits, unread, when there is none; small frames have a reserve that
//! large ones cannot take. Each request runs as its own future, so a client's pipelined
//! requests are served concurrently; responses leave in request order through a small
//! reorder buffer keyed by arrival. A semaphore of `queued.max.requests` permits bounds
//! the requests in flight: a frame is only read once a permit is free, and a permit
//! (with the frame's memory) is released only once its response is written, so a client
//! that stops reading its responses stops being read.
//!
//! Malformed bytes, an unknown API, or an unsupported version (other than ApiVersions,
//! which gets its v0 error response) close this connection only, with a log line.

use super::listener::ConnectionSlot;
use crate::handlers::{self, unsupported_version_response, Node};
use crate::protocol::frame::{decode_request, encode_response_chunks, FrameError};
use crate::protocol::ApiKey;
use actix::prelude::*;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// What a request holds until its response is written: its place among the
/// connection's requests in flight and its bytes of the broker-wide pool.
struct Held {
    _inflight: OwnedSemaphorePermit,
    _bytes: Option<OwnedSemaphorePermit>,
}

type Outgoing = (Vec<Bytes>, Held);

/// How much a frame's buffer grows by at a time while its bytes arrive (and the read
/// buffer of a connection).
const READ_CHUNK: usize = 64 * 1024;

/// The broker-wide memory for requests read and not yet answered
/// (`queued.max.request.bytes`). Large requests take it as their bytes arrive, so a
/// client that announces a large request and sends it slowly holds only what it sent.
/// An eighth is kept for requests of at most [`SMALL_FRAME`] bytes: however much the
/// large ones hold, ordinary requests (metadata, fetches, heartbeats, most produces)
/// still get read.
pub struct RequestMemory {
    shared: Arc<Semaphore>,
    small_only: Arc<Semaphore>,
}

/// The largest request that may use the reserve for small requests.
pub const SMALL_FRAME: usize = 1 << 20;

impl RequestMemory {
    /// Splits `bytes` into the shared part and the reserve for small requests.
    pub fn new(bytes: usize) -> Self {
        let reserve = bytes / 8;
        RequestMemory {
            shared: Arc::new(Semaphore::new(bytes - reserve)),
            small_only: Arc::new(Semaphore::new(reserve)),
        }
    }

    /// Permits for a whole small frame: from the shared part if it has room now, else
    /// from the reserve (waiting for it).
    async fn small(&self, size: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(size.max(1)).ok()?;
        if let Ok(p) = self.shared.clone().try_acquire_many_owned(n) {
            return Some(p);
        }
        self.small_only.clone().acquire_many_owned(n).await.ok()
    }

    /// Permits for `n` more bytes of a large frame, from the shared part.
    async fn large(&self, n: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(n.max(1)).ok()?;
        self.shared.clone().acquire_many_owned(n).await.ok()
    }
}

/// Reads one size-prefixed frame. `Ok(None)` when the client closed the connection
/// between frames. A prefix over `max` is an error before anything is allocated; the
/// frame's buffer grows as its bytes arrive, each chunk read only once `memory` has
/// room for it (a small frame takes its room at once).
async fn read_frame(
    r: &mut BufReader<OwnedReadHalf>,
    max: usize,
    memory: &RequestMemory,
) -> std::io::Result<Option<(BytesMut, OwnedSemaphorePermit)>> {
    use std::io::{Error, ErrorKind};
    let stopping = || Error::other("the broker is stopping");
    let mut prefix = [0u8; 4];
    if r.read(&mut prefix[..1]).await? == 0 {
        return Ok(None);
    }
    r.read_exact(&mut prefix[1..]).await?;
    let size = u32::from_be_bytes(prefix) as usize;
    if size > max {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("a frame of {size} bytes is over socket.request.max.bytes ({max})"),
        ));
    }
    // A small frame's memory is taken at once; a large one's a step at a time, as its
    // bytes arrive.
    let mut granted = if size <= SMALL_FRAME {
        size
    } else {
        READ_CHUNK
    };
    let mut held = if size <= SMALL_FRAME {
        memory.small(size).await
    } else {
        memory.large(granted).await
    }
    .ok_or_else(stopping)?;
    let mut buf = BytesMut::new();
    while buf.len() < size {
        if buf.len() == granted {
            let grow = (size - granted).min(granted);
            held.merge(memory.large(grow).await.ok_or_else(stopping)?);
            granted += grow;
        }
        // The buffer grows with the bytes that came: by at least a chunk, at most by
        // what the memory taken covers.
        let step = (granted - buf.len()).min(buf.len().max(READ_CHUNK));
        buf.reserve(step);
        let mut limited = (&mut buf).limit(step);
        if r.read_buf(&mut limited).await? == 0 {
            return Err(Error::new(
                ErrorKind::UnexpectedEof,
                "the frame ended early",
            ));
        }
    }
    Ok(Some((buf, held)))
}

/// The most I/O slices one vectored write takes.
const MAX_IOV: usize = 64;

/// Writes every chunk with vectored writes: record data goes from the segment's mmap
/// to the socket without an intermediate copy.
async fn write_chunks(
    w: &mut OwnedWriteHalf,
    pending: &mut VecDeque<Bytes>,
) -> std::io::Result<()> {
    while !pending.is_empty() {
        let mut written = {
            let slices: Vec<IoSlice<'_>> = pending
                .iter()
                .take(MAX_IOV)
                .map(|b| IoSlice::new(b))
                .collect();
            w.write_vectored(&slices).await?
        };
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let Some(front) = pending.front_mut() else {
                break;
            };
            if written >= front.len() {
                written -= front.len();
                pending.pop_front();
            } else {
                front.advance(written);
                written = 0;
            }
        }
    }
    Ok(())
}

/// A read frame (or the read error) with what it holds.
struct Incoming(std::io::Result<BytesMut>, Held);

/// One client connection.
pub struct ConnectionActor {
    node: Arc<Node>,
    peer: SocketAddr,
    out: mpsc::UnboundedSender<Outgoing>,
    next_seq: u64,
    next_out: u64,
    done: BTreeMap<u64, (Option<Vec<Bytes>>, Held)>,
    last_activity: Instant,
    /// This connection's place under `max.connections`; freed when the actor drops.
    _slot: ConnectionSlot,
}

impl ConnectionActor {
    /// Starts the actor for `stream` on the current arbiter.
    pub fn start_for(
        node: Arc<Node>,
        stream: TcpStream,
        peer: SocketAddr,
        slot: ConnectionSlot,
    ) -> Addr<Self> {
        let _ = stream.set_nodelay(true);
        let config = node.config.load();
        let max_frame = config.socket_request_max_bytes;
        let inflight = config.max_inflight_requests.max(1);
        let (read, mut write) = stream.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
        actix_rt::spawn(async move {
            let mut pending = VecDeque::new();
            let mut permits = Vec::new();
            while let Some((chunks, permit)) = rx.recv().await {
                pending.extend(chunks);
                permits.push(permit);
                // Responses that are ready go out together, in one vectored write.
                while pending.len() < MAX_IOV {
                    let Ok((chunks, permit)) = rx.try_recv() else {
                        break;
                    };
                    pending.extend(chunks);
                    permits.push(permit);
                }
                if let Err(error) = write_chunks(&mut write, &mut pending).await {
                    tracing::debug!(%peer, %error, "write failed; closing");
                    break;
                }
                permits.clear();
            }
            let _ = write.shutdown().await;
        });
        let reader = BufReader::with_capacity(READ_CHUNK, read);
        let permits = Arc::new(Semaphore::new(inflight));
        let pool = node.request_memory.clone();
        let frames =
            futures::stream::unfold(Some((reader, permits, pool)), move |state| async move {
                let (mut reader, permits, pool) = state?;
                let inflight = permits.clone().acquire_owned().await.ok()?;
                match read_frame(&mut reader, max_frame, &pool).await {
                    Ok(None) => None,
                    Ok(Some((frame, bytes))) => {
                        let held = Held {
                            _inflight: inflight,
                            _bytes: Some(bytes),
                        };
                        Some((Incoming(Ok(frame), held), Some((reader, permits, pool))))
                    }
                    // The error closes the connection; nothing more is read.
                    Err(e) => {
                        let held = Held {
                            _inflight: inflight,
                            _bytes: None,
                        };
                        Some((Incoming(Err(e), held), None))
                    }
                }
            });
        ConnectionActor::create(move |ctx| {
            ctx.add_stream(frames);
            ConnectionActor {
                node,
                peer,
                out: tx,
                next_seq: 0,
                next_out: 0,
                done: BTreeMap::new(),
                last_activity: Instant::now(),
                _slot: slot,
            }
        })
    }

    /// Files a finished request's response and writes every response now in order.
    fn complete(&mut self, seq: u64, response: Option<Vec<Bytes>>, permit: Held) {
        self.done.insert(seq, (response, permit));
        while let Some((response, permit)) = self.done.remove(&self.next_out) {
            self.next_out += 1;
            if let Some(buf) = response {
                if self.out.send((buf, permit)).is_err() {
                    return;
                }
            }
        }
        self.last_activity = Instant::now();
    }

    fn close(&mut self, ctx: &mut Context<Self>, why: &dyn std::fmt::Display) {
        tracing::info!(peer = %self.peer, reason = %why, "closing connection");
        ctx.stop();
    }
}

impl Actor for ConnectionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        tracing::debug!(peer = %self.peer, "connection opened");
        let idle = Duration::from_millis(self.node.config.load().connections_max_idle_ms);
        let tick = (idle / 10).clamp(Duration::from_millis(100), Duration::from_secs(30));
        ctx.run_interval(tick, move |act, ctx| {
            if act.next_out == act.next_seq && act.last_activity.elapsed() >= idle {
                act.close(ctx, &"idle for connections.max.idle.ms");
            }
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        tracing::debug!(peer = %self.peer, "connection closed");
    }
}

impl StreamHandler<Incoming> for ConnectionActor {
    fn handle(&mut self, Incoming(frame, permit): Incoming, ctx: &mut Context<Self>) {
        self.last_activity = Instant::now();
        let frame = match frame {
            Ok(f) => f.freeze(),
            Err(e) => return self.close(ctx, &format_args!("bad frame: {e}")),
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        let request = match decode_request(frame) {
            Ok(r) => r,
            Err(FrameError::UnsupportedVersion {
                api_key: ApiKey::ApiVersions,
                version,
                correlation_id,
            }) => {
                tracing::debug!(peer = %self.peer, version, "ApiVersions version not supported; answering v0");
                match encode_response_chunks(correlation_id, 0, &unsupported_version_response()) {
                    Ok(buf) => return self.complete(seq, Some(buf.into_chunks()), permit),
                    Err(e) => return self.close(ctx, &e),
                }
            }
            Err(e) => return self.close(ctx, &e),
        };
        let (correlation_id, version, api_key) =
            (request.correlation_id(), request.version(), request.api_key);
        let node = self.node.clone();
        // The first poll happens here, in arrival order: handlers send their actor
        // messages (a produce's Appends) before their first await, so pipelined
        // requests reach each partition in request order. actix would not keep that
        // order: it polls spawned futures in a list it reorders with swap_remove.
        let mut dispatch = Box::pin(handlers::dispatch(node, request, self.peer));
        let first = std::future::Future::poll(
            dispatch.as_mut(),
            &mut std::task::Context::from_waker(futures::task::noop_waker_ref()),
        );
        let dispatch = async move {
            match first {
                std::task::Poll::Ready(result) => result,
                std::task::Poll::Pending => dispatch.await,
            }
        };
        ctx.spawn(
            dispatch
                .into_actor(self)
                .map(move |res, act, ctx| match res {
                    Ok(Some(response)) => {
                        match encode_response_chunks(correlation_id, version, &response) {
                            Ok(buf) => act.complete(seq, Some(buf.into_chunks()), permit),
                            Err(e) => {
                                // The broker built a response its own codec refuses:
                                // a bug of ours, not the client's.
                                act.node.metrics.note_response_encode_failure();
                                tracing::error!(
                                    peer = %act.peer,
                                    ?api_key,
                                    version,
                                    error = %e,
                                    "response failed to encode; closing the connection"
                                );
                                ctx.stop();
                            }
                        }
                    }
                    Ok(None) => act.complete(seq, None, permit),
                    Err(e) => act.close(ctx, &e),
                }),
        );
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        // The client closed its side; responses still in flight are dropped with it.
        ctx.stop();
    }
}
