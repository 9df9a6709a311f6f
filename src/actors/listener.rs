//! The listener: accepts sockets and starts one `ConnectionActor` per socket on the
//! worker arbiters, round-robin.

use super::connection::ConnectionActor;
use crate::handlers::Node;
use actix::prelude::*;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Accepts until the system stops. Each socket is handed to its arbiter as a std
/// socket and registered there, so its I/O runs on that arbiter's own reactor.
pub async fn run(listener: TcpListener, node: Arc<Node>, arbiters: Vec<ArbiterHandle>) {
    let mut next = 0usize;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
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
        let node = node.clone();
        arbiter.spawn(async move {
            match tokio::net::TcpStream::from_std(std_stream) {
                Ok(stream) => {
                    ConnectionActor::start_for(node, stream, peer);
                }
                Err(error) => tracing::warn!(%peer, %error, "could not register a socket"),
            }
        });
    }
}
