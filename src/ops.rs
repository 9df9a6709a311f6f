//! The operations HTTP listener (`metrics.listener`): `/metrics` for Prometheus,
//! `/health` (the process is up) and `/ready` (startup is over and the broker serves).
//! actix-web, on a worker thread of its own: a scrape never runs on a connection's
//! arbiter.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};

use crate::metrics::BrokerMetrics;

/// A running operations listener.
pub struct Ops {
    pub addr: SocketAddr,
    handle: ServerHandle,
}

impl Ops {
    /// Stops the listener and waits for it.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// The content type of the OpenMetrics text format, which Prometheus scrapes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn scrape(m: web::Data<Arc<BrokerMetrics>>) -> HttpResponse {
    match m.encode() {
        Ok(body) => HttpResponse::Ok().content_type(OPENMETRICS).body(body),
        Err(e) => {
            tracing::error!(error = %e, "encoding the metrics failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

async fn ready(m: web::Data<Arc<BrokerMetrics>>) -> HttpResponse {
    if m.is_ready() {
        HttpResponse::Ok()
            .content_type("text/plain")
            .body("ready\n")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("starting\n")
    }
}

/// Binds `addr` and serves; the caller's actix system drives the server.
pub fn start(addr: SocketAddr, metrics: Arc<BrokerMetrics>) -> anyhow::Result<Ops> {
    let data = web::Data::new(metrics);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/metrics", web::get().to(scrape))
            .route("/health", web::get().to(health))
            .route("/ready", web::get().to(ready))
    })
    .workers(1)
    .disable_signals()
    .bind(addr)
    .map_err(|e| anyhow::anyhow!("binding metrics.listener {addr}: {e}"))?;
    let bound = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("metrics.listener {addr} bound no address"))?;
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    tracing::info!(addr = %bound, "operations listener serving /metrics, /health, /ready");
    Ok(Ops {
        addr: bound,
        handle,
    })
}
