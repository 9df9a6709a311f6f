//! [`TlsAcceptorSource`]: the current `ServerConfig`s, reloaded when their files change.

use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;

use super::*;

/// Holds the current `ServerConfig`s; reloads them when key/trust files change. As in
/// Kafka, `ssl.client.auth` applies to SSL listeners only: a SASL_SSL client is named
/// by SASL and asked for no certificate, so the same material makes two configs.
pub struct TlsAcceptorSource {
    cfg: TlsConfig,
    current: ArcSwap<Configs>,
    state: Mutex<ReloadState>,
}

/// The configs of SSL and of SASL_SSL listeners, made from one read of the material.
pub(super) struct Configs {
    ssl: Arc<ServerConfig>,
    sasl_ssl: Arc<ServerConfig>,
}

impl Configs {
    fn build(cfg: &TlsConfig, material: &Material) -> Result<Self, TlsError> {
        let ssl = build(cfg, material, cfg.client_auth)?;
        let sasl_ssl = match cfg.client_auth {
            ClientAuth::None => Arc::clone(&ssl),
            _ => build(cfg, material, ClientAuth::None)?,
        };
        Ok(Configs { ssl, sasl_ssl })
    }
}

impl fmt::Debug for TlsAcceptorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptorSource")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

pub(super) struct ReloadState {
    /// Fingerprint of the material behind `current`.
    loaded: u64,
    /// The last failure warned about, to warn once per distinct failure.
    warned: Option<String>,
}

impl TlsAcceptorSource {
    /// Loads `cfg` now; fails if its material is unusable.
    pub fn new(cfg: TlsConfig) -> Result<Arc<Self>, TlsError> {
        let material = Material::load(&cfg)?;
        let configs = Configs::build(&cfg, &material)?;
        Ok(Arc::new(Self {
            cfg,
            current: ArcSwap::from_pointee(configs),
            state: Mutex::new(ReloadState {
                loaded: material.fingerprint(),
                warned: None,
            }),
        }))
    }

    /// An acceptor for the current config of an SSL listener, or (`sasl`) of a SASL_SSL
    /// one; connections keep the config they started with.
    pub fn acceptor(&self, sasl: bool) -> tokio_rustls::TlsAcceptor {
        let configs = self.current.load();
        let config = if sasl {
            &configs.sasl_ssl
        } else {
            &configs.ssl
        };
        tokio_rustls::TlsAcceptor::from(Arc::clone(config))
    }

    /// Rereads the key and trust material and rebuilds the config if its content changed.
    ///
    /// Returns `Ok(true)` if reloaded. On bad new material the old config stays, a warning is
    /// logged (once per distinct content) and the error is returned.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        self.reload_inner(false)
    }

    /// Rebuilds the config unconditionally; on error the old config stays.
    #[cfg(test)]
    pub fn reload(&self) -> Result<(), TlsError> {
        self.reload_inner(true).map(|_| ())
    }

    fn reload_inner(&self, force: bool) -> Result<bool, TlsError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let result = Material::load(&self.cfg).and_then(|material| {
            let fingerprint = material.fingerprint();
            if !force && fingerprint == state.loaded {
                return Ok(None);
            }
            let configs = Configs::build(&self.cfg, &material)?;
            Ok(Some((fingerprint, configs)))
        });
        match result {
            Ok(None) => {
                state.warned = None;
                Ok(false)
            }
            Ok(Some((fingerprint, configs))) => {
                self.current.store(Arc::new(configs));
                state.loaded = fingerprint;
                state.warned = None;
                tracing::info!("TLS key material reloaded");
                Ok(true)
            }
            Err(e) => {
                let warning = e.to_string();
                if force || state.warned.as_ref() != Some(&warning) {
                    tracing::warn!(error = %e, "TLS reload failed; keeping the previous configuration");
                }
                state.warned = Some(warning);
                Err(e)
            }
        }
    }

    /// Spawns a tokio task calling [`Self::reload_if_changed`] every `period` until `self` is
    /// dropped. Does nothing (but warn) outside a tokio runtime.
    pub fn watch(self: &Arc<Self>, period: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no tokio runtime; TLS key material will not be watched");
            return;
        };
        let weak: Weak<Self> = Arc::downgrade(self);
        runtime.spawn(async move {
            let mut interval = tokio::time::interval(period.max(Duration::from_millis(1)));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await;
            loop {
                interval.tick().await;
                let Some(source) = weak.upgrade() else { break };
                // File reads block; errors are already logged by reload_if_changed.
                let _ = tokio::task::spawn_blocking(move || source.reload_if_changed()).await;
            }
        });
    }
}
