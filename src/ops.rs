//! The operations HTTP listener (`metrics.listener`): `/metrics` for Prometheus,
//! `/health` (the process is up) and `/ready` (startup is over and the broker serves).
//! actix-web, on a worker thread of its own: a scrape never runs on a connection's
//! arbiter.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

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

/// The content type of the OpenMetrics text format, which Prometheus asks for.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of the Prometheus text format 0.0.4, for scrapers that do not ask
/// for OpenMetrics.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The same exposition in the Prometheus text format 0.0.4: a counter's HELP and TYPE
/// name its `_total` sample, `unknown` is `untyped`, and OpenMetrics' `# UNIT` and
/// `# EOF` lines go.
fn prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let descriptor = ["# HELP ", "# TYPE "].into_iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            Some((prefix, name, tail))
        });
        match descriptor {
            Some((prefix, name, tail)) if counters.contains(name) => {
                out.push_str(&format!("{prefix}{name}_total {tail}"));
            }
            Some(("# TYPE ", name, "unknown")) => {
                out.push_str(&format!("# TYPE {name} untyped"));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

async fn scrape(request: HttpRequest, m: web::Data<Arc<BrokerMetrics>>) -> HttpResponse {
    let openmetrics = request
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    match m.encode() {
        Ok(body) if openmetrics => HttpResponse::Ok().content_type(OPENMETRICS).body(body),
        Ok(body) => HttpResponse::Ok()
            .content_type(PROMETHEUS_TEXT)
            .body(prometheus_text(&body)),
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

#[cfg(test)]
mod tests {
    use super::prometheus_text;

    #[test]
    fn prometheus_text_names_counters_by_their_samples_and_drops_eof() {
        let om = "# HELP a_b Things.\n# TYPE a_b counter\na_b_total 3\n# HELP g A gauge.\n# TYPE g gauge\n# UNIT g seconds\ng 1\n# TYPE u unknown\nu 2\n# EOF\n";
        assert_eq!(
            prometheus_text(om),
            "# HELP a_b_total Things.\n# TYPE a_b_total counter\na_b_total 3\n# HELP g A gauge.\n# TYPE g gauge\ng 1\n# TYPE u untyped\nu 2\n"
        );
    }
}
