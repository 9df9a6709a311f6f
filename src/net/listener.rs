//! The listener: accepts sockets and starts one `ConnectionActor` per socket on the
//! worker arbiters, round-robin.
//!
//! It also enforces `max.connections` and `max.connections.per.ip`: past either, a
//! new socket is accepted and closed at once with a log line, as Kafka does. Each
//! admitted connection holds a [`ConnectionSlot`] that gives its place back when the
//! `ConnectionActor` (and with it the socket) is dropped.

use super::connection::ConnectionActor;
use super::frame_reader::RequestMemory;
use super::tls::{try_peer_subject, TlsAcceptorSource};
use crate::handlers::{BrokerContext, ListenerInfo, Session};
use actix::prelude::*;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::net::TcpListener;
use tokio_rustls::server::TlsStream;

/// Counts open connections, in total and per client address.
#[derive(Debug)]
pub struct ConnectionLimits {
    max_total: usize,
    max_per_ip: usize,
    open: Mutex<OpenConnections>,
}

#[derive(Debug, Default)]
struct OpenConnections {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `max.connections` connections are open.
    Total(usize),
    /// `max.connections.per.ip` connections from this address are open.
    PerIp(usize),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Total(n) => write!(f, "max.connections ({n}) reached"),
            Refused::PerIp(n) => write!(f, "max.connections.per.ip ({n}) reached"),
        }
    }
}

impl ConnectionLimits {
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_ip,
            open: Mutex::new(OpenConnections::default()),
        })
    }

    /// Takes a place for a connection from `ip`, or says which limit refuses it.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, Refused> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.total >= self.max_total {
            return Err(Refused::Total(self.max_total));
        }
        let from_ip = open.per_ip.entry(ip).or_insert(0);
        if *from_ip >= self.max_per_ip {
            return Err(Refused::PerIp(self.max_per_ip));
        }
        *from_ip += 1;
        open.total += 1;
        Ok(ConnectionSlot {
            limits: Arc::clone(self),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

/// One admitted connection's place; dropping it gives the place back.
#[derive(Debug)]
pub struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self
            .limits
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.per_ip.remove(&self.ip);
            }
        }
    }
}

/// Accepts until the system stops. Each socket is handed to its arbiter as a std
/// socket and registered there, so its I/O runs on that arbiter's own reactor.
pub async fn run(
    listener: TcpListener,
    info: Arc<ListenerInfo>,
    limits: Arc<ConnectionLimits>,
    ctx: Arc<BrokerContext>,
    memory: Arc<RequestMemory>,
    arbiters: Vec<ArbiterHandle>,
) {
    let mut next = 0usize;
    let anonymous = Arc::new(crate::security::principal::KafkaPrincipal::anonymous());
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = match limits.try_acquire(peer.ip()) {
            Ok(slot) => slot,
            Err(refused) => {
                tracing::warn!(%peer, reason = %refused, "refusing connection");
                drop(stream);
                continue;
            }
        };
        let std_stream = match stream.into_std() {
            Ok(s) => s,
            Err(error) => {
                tracing::warn!(%peer, %error, "could not hand over a socket");
                continue;
            }
        };
        let arbiter = &arbiters[next % arbiters.len()];
        next = next.wrapping_add(1);
        let ctx = ctx.clone();
        let memory = memory.clone();
        let session = Session {
            peer,
            listener: info.clone(),
            principal: anonymous.clone(),
        };
        arbiter.spawn(async move {
            let stream = match tokio::net::TcpStream::from_std(std_stream) {
                Ok(stream) => stream,
                Err(error) => {
                    tracing::warn!(%peer, %error, "could not register a socket");
                    return;
                }
            };
            let _ = stream.set_nodelay(true);
            match session.listener.tls.clone() {
                None => {
                    ConnectionActor::start_for(ctx, memory, stream.into_split(), session, slot);
                }
                Some(tls) => {
                    if let Some(session) = handshake(&ctx, &tls, stream, session).await {
                        let (session, stream) = session;
                        let halves = tokio::io::split(stream);
                        ConnectionActor::start_for(ctx, memory, halves, session, slot);
                    }
                }
            }
        });
    }
}

/// A TLS listener's handshake, bounded by `connections.max.idle.ms` (a client that
/// sends nothing, or too little, holds its connection place no longer than an idle
/// one). The principal of a client that presented a certificate is named from its
/// subject by `ssl.principal.mapping.rules`; `None` (the socket closed, with a log
/// line) when the handshake fails, times out, or the subject maps to no name.
async fn handshake(
    ctx: &BrokerContext,
    tls: &TlsAcceptorSource,
    stream: tokio::net::TcpStream,
    mut session: Session,
) -> Option<(Session, TlsStream<tokio::net::TcpStream>)> {
    let peer = session.peer;
    let config = ctx.config.load_full();
    let limit = std::time::Duration::from_millis(config.connections_max_idle_ms);
    let acceptor = tls.acceptor(session.listener.protocol.uses_sasl());
    let stream = match tokio::time::timeout(limit, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::info!(%peer, %error, "TLS handshake failed; closing");
            return None;
        }
        Err(_) => {
            tracing::info!(%peer, "TLS handshake not done within connections.max.idle.ms; closing");
            return None;
        }
    };
    let subject = match try_peer_subject(stream.get_ref().1) {
        Ok(subject) => subject,
        Err(error) => {
            tracing::warn!(%peer, %error, "unreadable client certificate; closing");
            return None;
        }
    };
    match config.ssl_principal_mapper.principal(subject.as_deref()) {
        Ok(principal) => session.principal = Arc::new(principal),
        Err(error) => {
            tracing::warn!(%peer, %error, "no principal for the client certificate; closing");
            return None;
        }
    }
    Some((session, stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_in_total_and_per_ip_and_free_places_on_drop() {
        let limits = ConnectionLimits::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = limits.try_acquire(a).unwrap();
        let _a2 = limits.try_acquire(a).unwrap();
        assert_eq!(limits.try_acquire(a).unwrap_err(), Refused::PerIp(2));
        let _b1 = limits.try_acquire(b).unwrap();
        assert_eq!(limits.try_acquire(b).unwrap_err(), Refused::Total(3));
        assert_eq!(limits.open(), 3);
        drop(a1);
        assert_eq!(limits.open(), 2);
        let _a3 = limits.try_acquire(a).unwrap();
    }
}
