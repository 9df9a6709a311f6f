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

use super::frame_reader::{read_frame, RequestMemory, READ_CHUNK};
use super::listener::ConnectionSlot;
use super::sasl::{self, Auth, Gate, Mechanism, Outcome, SaslContext};
use crate::handlers::{self, unsupported_version_response, BrokerContext, Session};
use crate::metrics::RequestTiming;
use crate::protocol::frame::{decode_request, encode_response_chunks, FrameError, RequestFrame};
use crate::protocol::messages::sasl_authenticate_request::SaslAuthenticateRequest;
use crate::protocol::{ApiKey, Request, Response};
use actix::prelude::*;
use bytes::{Buf, Bytes, BytesMut};
use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// What a request holds until its response is written: its place among the
/// connection's requests in flight and its bytes of the broker-wide pool.
struct Held {
    _inflight: OwnedSemaphorePermit,
    _bytes: Option<OwnedSemaphorePermit>,
    /// When its frame was read whole.
    received: Instant,
    /// Its API and the moments it passed, once it is answered (for the request-time
    /// metrics, recorded when the response is written).
    answered: Option<(ApiKey, RequestTiming)>,
}

type Outgoing = (Vec<Bytes>, Held);

/// The most I/O slices one vectored write takes.
const MAX_IOV: usize = 64;

/// Writes every chunk with vectored writes: record data goes from the segment's mmap
/// to the socket without an intermediate copy.
async fn write_chunks<W: AsyncWrite + Unpin>(
    w: &mut W,
    pending: &mut VecDeque<Bytes>,
) -> std::io::Result<()> {
    loop {
        // An empty chunk would make the vectored write return 0, read as WriteZero.
        while pending.front().is_some_and(Bytes::is_empty) {
            pending.pop_front();
        }
        if pending.is_empty() {
            break;
        }
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
    /// The broker's shared context (`ctx` is actix's `Context` in this file).
    broker_ctx: Arc<BrokerContext>,
    /// Shared with the requests in flight; replaced whole when SASL names the client.
    session: Arc<Session>,
    /// Where the connection stands with SASL (always open on a PLAINTEXT listener).
    auth: Auth,
    /// After a SaslHandshake v0 and until the client is authenticated, frames are
    /// unframed SASL tokens (Kafka's pre-KIP-152 exchange), not requests.
    raw_sasl: bool,
    out: mpsc::UnboundedSender<Outgoing>,
    next_seq: u64,
    next_out: u64,
    done: BTreeMap<u64, (Option<Vec<Bytes>>, Held)>,
    last_activity: Instant,
    /// This connection's place under `max.connections`; freed when the actor drops.
    _slot: ConnectionSlot,
}

impl ConnectionActor {
    /// Starts the actor for a socket's two halves (a TCP stream's, or a TLS stream's)
    /// on the current arbiter.
    pub fn start_for<R, W>(
        broker_ctx: Arc<BrokerContext>,
        memory: Arc<RequestMemory>,
        (read, mut write): (R, W),
        session: Session,
        slot: ConnectionSlot,
    ) -> Addr<Self>
    where
        R: AsyncRead + Unpin + 'static,
        W: AsyncWrite + Unpin + 'static,
    {
        let peer = session.peer;
        let config = broker_ctx.config.load();
        let max_frame = config.socket_request_max_bytes;
        let inflight = config.queued_max_requests.max(1);
        let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
        let metrics = broker_ctx.metrics.clone();
        actix_rt::spawn(async move {
            let mut pending = VecDeque::new();
            let mut permits = Vec::new();
            while let Some((chunks, permit)) = rx.recv().await {
                let picked = metrics.enabled().then(Instant::now);
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
                if let Some(picked) = picked {
                    let sent = Instant::now();
                    for held in permits.drain(..) {
                        if let Some((api, timing)) = held.answered {
                            metrics.request_done(api, &timing, picked, sent);
                        }
                    }
                }
                permits.clear();
            }
            let _ = write.shutdown().await;
        });
        let reader = BufReader::with_capacity(READ_CHUNK, read);
        let permits = Arc::new(Semaphore::new(inflight));
        let pool = memory;
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
                            received: Instant::now(),
                            answered: None,
                        };
                        Some((Incoming(Ok(frame), held), Some((reader, permits, pool))))
                    }
                    // The error closes the connection; nothing more is read.
                    Err(e) => {
                        let held = Held {
                            _inflight: inflight,
                            _bytes: None,
                            received: Instant::now(),
                            answered: None,
                        };
                        Some((Incoming(Err(e), held), None))
                    }
                }
            });
        ConnectionActor::create(move |ctx| {
            ctx.add_stream(frames);
            ConnectionActor {
                broker_ctx,
                auth: Auth::new(session.listener.protocol.uses_sasl()),
                raw_sasl: false,
                session: Arc::new(session),
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

    /// Answers a SaslHandshake or SaslAuthenticate (a PLAIN check runs off this thread;
    /// until it ends the connection takes nothing else).
    fn answer_sasl(
        &mut self,
        ctx: &mut Context<Self>,
        seq: u64,
        frame: RequestFrame,
        permit: Held,
    ) {
        let header = Some((frame.correlation_id(), frame.version()));
        self.answer_sasl_body(ctx, seq, header, frame.body, permit);
    }

    /// A token of a SaslHandshake v0 exchange, answered as SaslAuthenticate would be
    /// and written back as a bare token.
    fn answer_raw_token(&mut self, ctx: &mut Context<Self>, seq: u64, token: Bytes, permit: Held) {
        let body = Request::SaslAuthenticate(SaslAuthenticateRequest {
            auth_bytes: token,
            ..Default::default()
        });
        self.answer_sasl_body(ctx, seq, None, body, permit);
    }

    /// `header` is the request's correlation id and version; `None` for a bare token.
    fn answer_sasl_body(
        &mut self,
        ctx: &mut Context<Self>,
        seq: u64,
        header: Option<(i32, i16)>,
        body: Request,
        permit: Held,
    ) {
        let config = self.broker_ctx.config.load();
        let sasl_listener = self.session.listener.protocol.uses_sasl();
        let context = SaslContext {
            enabled: config
                .sasl_enabled_mechanisms
                .iter()
                .filter_map(|m| Mechanism::from_name(m))
                .collect(),
            users: self.broker_ctx.users.clone(),
            reauth_ms: config.connections_max_reauth_ms,
            // Once authenticated, every later exchange re-authenticates that principal.
            current: (sasl_listener && !self.session.principal.is_anonymous())
                .then(|| (*self.session.principal).clone()),
        };
        let auth = std::mem::replace(&mut self.auth, Auth::Checking);
        match sasl::answer(auth, body, sasl_listener, &context) {
            Ok(outcome) => self.apply_sasl(ctx, seq, header, outcome, permit),
            Err(check) => {
                ctx.spawn(check.into_actor(self).map(move |outcome, act, ctx| {
                    act.apply_sasl(ctx, seq, header, outcome, permit)
                }));
            }
        }
    }

    fn apply_sasl(
        &mut self,
        ctx: &mut Context<Self>,
        seq: u64,
        header: Option<(i32, i16)>,
        outcome: Outcome,
        permit: Held,
    ) {
        self.auth = outcome.auth;
        if let Some(principal) = outcome.principal {
            tracing::info!(peer = %self.session.peer, %principal, listener = %self.session.listener.name, "authenticated");
            self.session = Arc::new(Session {
                principal: Arc::new(principal),
                ..(*self.session).clone()
            });
        }
        if matches!(self.auth, Auth::Open { .. }) || outcome.close {
            self.raw_sasl = false;
        }
        // A SaslHandshake v0 that succeeded: bare tokens follow.
        if let (Some((_, 0)), Response::SaslHandshake(h)) = (header, &outcome.response) {
            self.raw_sasl = h.error_code == 0 && !outcome.close;
        }
        let Some((correlation_id, version)) = header else {
            // A v0 exchange has no error field: a refusal is the closed connection.
            if outcome.close {
                return self.close(ctx, &"SASL authentication failed (SaslHandshake v0)");
            }
            let Response::SaslAuthenticate(answer) = &outcome.response else {
                return self.close(ctx, &"no token to answer a SASL token with");
            };
            let token = answer.auth_bytes.clone();
            let Ok(len) = u32::try_from(token.len()) else {
                return self.close(ctx, &"SASL token too large");
            };
            let size = Bytes::copy_from_slice(&len.to_be_bytes());
            return self.complete(seq, Some(vec![size, token]), permit);
        };
        match encode_response_chunks(correlation_id, version, &outcome.response) {
            Ok(buf) => self.complete(seq, Some(buf.into_chunks()), permit),
            Err(e) => return self.close(ctx, &e),
        }
        if outcome.close {
            // As Kafka (connection.failed.authentication.delay.ms): the response goes
            // out, the close comes a little later, which slows a password guesser and
            // lets the client read why.
            let delay = self
                .broker_ctx
                .config
                .load()
                .connection_failed_authentication_delay_ms;
            ctx.run_later(Duration::from_millis(delay), |act, ctx| {
                act.close(ctx, &"SASL authentication failed or refused");
            });
        }
    }

    fn close(&mut self, ctx: &mut Context<Self>, why: &dyn std::fmt::Display) {
        tracing::info!(peer = %self.session.peer, reason = %why, "closing connection");
        ctx.stop();
    }
}

impl Actor for ConnectionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        tracing::debug!(peer = %self.session.peer, "connection opened");
        self.session.listener.metrics.opened();
        let idle = Duration::from_millis(self.broker_ctx.config.load().connections_max_idle_ms);
        let tick = (idle / 10).clamp(Duration::from_millis(100), Duration::from_secs(30));
        ctx.run_interval(tick, move |act, ctx| {
            if act.next_out == act.next_seq && act.last_activity.elapsed() >= idle {
                act.close(ctx, &"idle for connections.max.idle.ms");
            }
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        tracing::debug!(peer = %self.session.peer, "connection closed");
        self.session.listener.metrics.closed();
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
        if self.raw_sasl {
            return self.answer_raw_token(ctx, seq, frame, permit);
        }
        let request = match decode_request(frame) {
            Ok(r) => r,
            Err(FrameError::UnsupportedVersion {
                api_key: ApiKey::ApiVersions,
                version,
                correlation_id,
            }) => {
                tracing::debug!(peer = %self.session.peer, version, "ApiVersions version not supported; answering v0");
                match encode_response_chunks(correlation_id, 0, &unsupported_version_response()) {
                    Ok(buf) => return self.complete(seq, Some(buf.into_chunks()), permit),
                    Err(e) => return self.close(ctx, &e),
                }
            }
            Err(e) => return self.close(ctx, &e),
        };
        match self
            .auth
            .gate(&request.body, self.session.listener.protocol.uses_sasl())
        {
            Gate::Serve => {}
            Gate::Close(why) => {
                tracing::warn!(peer = %self.session.peer, api_key = ?request.api_key, "closing: {why}");
                return self.close(ctx, &why);
            }
            Gate::Sasl => return self.answer_sasl(ctx, seq, request, permit),
        }
        let (correlation_id, version, api_key) =
            (request.correlation_id(), request.version(), request.api_key);
        tracing::debug!(peer = %self.session.peer, ?api_key, version, correlation_id, "request");
        self.broker_ctx.metrics.request(api_key, version);
        let dispatched = self.last_activity;
        let broker_ctx = self.broker_ctx.clone();
        // The first poll happens here, in arrival order: handlers send their actor
        // messages (a produce's Appends) before their first await, so pipelined
        // requests reach each partition in request order. actix would not keep that
        // order: it polls spawned futures in a list it reorders with swap_remove.
        let mut dispatch = Box::pin(handlers::dispatch(
            broker_ctx,
            request,
            self.session.clone(),
        ));
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
        let mut permit = permit;
        ctx.spawn(dispatch.into_actor(self).map(move |res, act, ctx| {
            let timing = |answered| RequestTiming {
                received: permit.received,
                dispatched,
                answered,
            };
            match res {
                Ok(Some(response)) => {
                    match encode_response_chunks(correlation_id, version, &response) {
                        Ok(buf) => {
                            permit.answered = Some((api_key, timing(Instant::now())));
                            act.complete(seq, Some(buf.into_chunks()), permit)
                        }
                        Err(e) => {
                            // The broker built a response its own codec refuses:
                            // a bug of ours, not the client's.
                            act.broker_ctx.metrics.note_response_encode_failure();
                            tracing::error!(
                                peer = %act.session.peer,
                                ?api_key,
                                version,
                                error = %e,
                                "response failed to encode; closing the connection"
                            );
                            ctx.stop();
                        }
                    }
                }
                Ok(None) => {
                    // No response to write (acks=0): done when answered.
                    let answered = Instant::now();
                    act.broker_ctx.metrics.request_done(
                        api_key,
                        &timing(answered),
                        answered,
                        answered,
                    );
                    act.complete(seq, None, permit)
                }
                Err(e) => act.close(ctx, &e),
            }
        }));
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        // The client closed its side; responses still in flight are dropped with it.
        ctx.stop();
    }
}
