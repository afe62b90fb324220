//! One server on both transports: WebTransport on UDP, WebSocket and discovery on TCP.

use std::fmt;
use std::future::Future;
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::Arc;

use quicket_core::Server;
use quicket_quic::{
    Admission, PreAcceptHook, QuicHandle, QuicLimits, QuicListener, ServerIdentity, SessionRequest,
};
use quicket_ws::{WebTransportInfo, WsConfig};

use crate::admin::{AdminConfig, AdminError};
use thiserror::Error;

/// The datagram size advertised to browsers by default (`QuicLimits::max_incoming_datagram`):
/// Chromium drops larger datagrams without a trace.
pub const BROWSER_DATAGRAM_LIMIT: usize = 1200;

/// Where and how to listen.
///
/// ```no_run
/// # async fn demo(server: quicket::Server) -> Result<(), Box<dyn std::error::Error>> {
/// use quicket::Endpoints;
/// use quicket::ws::axum::{Router, response::Html, routing::get};
///
/// let page = Router::new().route("/", get(|| async { Html("<script type=module>…</script>") }));
/// let endpoints = Endpoints::default()
///     .bind("0.0.0.0:8080".parse()?, "0.0.0.0:4433".parse()?)
///     .allow_origins(["https://game.example"])
///     .routes(page);
/// let serving = quicket::serve(&server, endpoints).await?;
/// # drop(serving);
/// # Ok(()) }
/// ```
#[non_exhaustive]
pub struct Endpoints {
    /// WebSocket and discovery (TCP). Default `[::]:8080`.
    pub http: SocketAddr,
    /// WebTransport (UDP). Default `[::]:4433`.
    pub quic: SocketAddr,
    /// The certificate. Default: the self-signed development certificate.
    pub identity: ServerIdentity,
    /// The QUIC endpoint's limits.
    pub quic_limits: QuicLimits,
    /// The WebSocket endpoint's configuration; its WebTransport advertisement is filled in.
    pub ws: WsConfig,
    /// The application's own HTTP routes (a page, its assets), served beside quicket's.
    pub routes: quicket_ws::axum::Router,
    /// Browser origins allowed on both transports; `None` allows any. Native clients send
    /// no origin and are always allowed.
    pub allowed_origins: Option<Vec<String>>,
    /// Decides on each WebTransport session request before a session is spent on it.
    pub pre_accept: Option<PreAcceptHook>,
    /// Serve the WebSocket endpoint, discovery and the application's routes over HTTPS
    /// (`wss://`) with the WebTransport endpoint's certificate, reloads included. Default
    /// off: with the development certificate, which browsers do not trust for pages, the TCP
    /// side stays plain HTTP (bind it to loopback, or put a TLS proxy in front).
    pub https: bool,
    /// The read-only admin view (a JSON API and a dashboard) behind a token. Default `None`:
    /// never on unless asked for.
    pub admin: Option<AdminConfig>,
    /// Whether to serve the browser client at [`CLIENT_SCRIPT_PATH`](crate::CLIENT_SCRIPT_PATH).
    /// Default on; turn it off to serve a client of your own build at that path.
    pub client_script: bool,
    /// Where to serve quicket's metrics in Prometheus's text format; `None` (the default)
    /// serves none. See [`Endpoints::metrics`].
    #[cfg(feature = "prometheus")]
    pub metrics: Option<String>,
}

impl fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Endpoints");
        debug
            .field("http", &self.http)
            .field("quic", &self.quic)
            .field("quic_limits", &self.quic_limits)
            .field("ws", &self.ws)
            .field("allowed_origins", &self.allowed_origins)
            .field("pre_accept", &self.pre_accept.is_some())
            .field("https", &self.https)
            .field("admin", &self.admin)
            .field("client_script", &self.client_script);
        #[cfg(feature = "prometheus")]
        debug.field("metrics", &self.metrics);
        debug.finish_non_exhaustive()
    }
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            http: SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 8080),
            quic: SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 4433),
            identity: ServerIdentity::dev(),
            quic_limits: QuicLimits::default(),
            ws: WsConfig::default(),
            routes: quicket_ws::axum::Router::new(),
            allowed_origins: None,
            pre_accept: None,
            https: false,
            admin: None,
            client_script: true,
            #[cfg(feature = "prometheus")]
            metrics: None,
        }
    }
}

impl Endpoints {
    /// Sets both addresses: WebSocket and discovery on TCP `http`, WebTransport on UDP `quic`
    /// (e.g. `127.0.0.1:0` for a free loopback port).
    pub fn bind(mut self, http: SocketAddr, quic: SocketAddr) -> Self {
        self.http = http;
        self.quic = quic;
        self
    }

    /// Sets the QUIC endpoint's limits.
    pub fn quic_limits(mut self, limits: QuicLimits) -> Self {
        self.quic_limits = limits;
        self
    }

    /// Sets the WebSocket endpoint's configuration.
    pub fn ws(mut self, config: WsConfig) -> Self {
        self.ws = config;
        self
    }

    /// Sets both ports.
    pub fn ports(mut self, http: u16, quic: u16) -> Self {
        self.http.set_port(http);
        self.quic.set_port(quic);
        self
    }

    /// Serves HTTPS and `wss://` with the WebTransport certificate (see [`Endpoints::https`]).
    pub fn https(mut self, on: bool) -> Self {
        self.https = on;
        self
    }

    /// Serves the read-only admin view (see [`AdminConfig`]).
    pub fn admin(mut self, admin: AdminConfig) -> Self {
        self.admin = Some(admin);
        self
    }

    /// Serves the browser client at [`CLIENT_SCRIPT_PATH`](crate::CLIENT_SCRIPT_PATH), or
    /// not.
    pub fn client_script(mut self, serve: bool) -> Self {
        self.client_script = serve;
        self
    }

    /// Serves the application's own routes beside quicket's.
    pub fn routes(mut self, routes: quicket_ws::axum::Router) -> Self {
        self.routes = routes;
        self
    }

    /// Accepts browser pages from these origins only (e.g. `https://game.example`), on
    /// WebSocket upgrades (403) and WebTransport session requests (403) alike.
    pub fn allow_origins<I: IntoIterator<Item = S>, S: Into<String>>(mut self, origins: I) -> Self {
        self.allowed_origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Decides on each WebTransport session request (path, origin, headers, query token)
    /// before a session is spent on it.
    pub fn pre_accept<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(SessionRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Admission> + Send + 'static,
    {
        self.pre_accept = Some(Arc::new(move |request| Box::pin(hook(request))));
        self
    }

    /// Sets the certificate.
    pub fn identity(mut self, identity: ServerIdentity) -> Self {
        self.identity = identity;
        self
    }

    /// Serves quicket's metrics (`docs/metrics.md`) in Prometheus's text format at `GET path`
    /// (e.g. `/metrics`) on the HTTP port, beside the application's routes; off by default.
    /// [`serve`] installs a Prometheus recorder as the process's `metrics` recorder before it
    /// listens, or reuses the one an earlier `serve` installed, and fails with
    /// [`MetricsError::RecorderInstalled`](crate::MetricsError::RecorderInstalled) when the
    /// application installed another. The path has no authentication and tells whoever
    /// reaches it how busy the server is: bind the HTTP port privately, or have the proxy in
    /// front refuse that path from outside.
    #[cfg(feature = "prometheus")]
    pub fn metrics(mut self, path: impl Into<String>) -> Self {
        self.metrics = Some(path.into());
        self
    }
}

/// What [`serve`] bound.
#[derive(Clone)]
pub struct Serving {
    /// The WebTransport endpoint: certificate hashes, reloads.
    pub quic: QuicHandle,
    /// The HTTP address (WebSocket and discovery).
    pub http: SocketAddr,
}

/// Why [`serve`] could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The WebTransport endpoint did not start.
    #[error(transparent)]
    Quic(#[from] quicket_quic::QuicError),
    /// The HTTP endpoint did not start.
    #[error("cannot bind the HTTP endpoint: {0}")]
    Http(#[from] std::io::Error),
    /// The admin view's configuration was refused.
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// The metrics endpoint could not be served.
    #[cfg(feature = "prometheus")]
    #[error(transparent)]
    Metrics(#[from] crate::MetricsError),
}

/// Serves `server` on WebTransport and WebSocket at once, one set of rooms and presence for
/// both, with the discovery document advertising the current certificate hashes, and the
/// browser client at [`CLIENT_SCRIPT_PATH`](crate::CLIENT_SCRIPT_PATH).
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = quicket::Server::builder().build();
/// let serving = quicket::serve(&server, quicket::Endpoints::default().ports(8080, 4433)).await?;
/// println!("WebSocket and discovery on {}, WebTransport on UDP 4433", serving.http);
/// tokio::signal::ctrl_c().await?;
/// server.shutdown(std::time::Duration::from_secs(5)).await;
/// # Ok(()) }
/// ```
pub async fn serve(server: &Server, endpoints: Endpoints) -> Result<Serving, ServeError> {
    // The routes first: a refused admin or metrics configuration binds nothing, and the
    // recorder is installed before the first connection, so that it is counted.
    let mut routes = endpoints.routes;
    #[cfg(feature = "prometheus")]
    if let Some(path) = &endpoints.metrics {
        routes = crate::prometheus::mount(routes, path)?;
    }
    if endpoints.client_script {
        routes = crate::client_script::mount(routes);
    }
    if let Some(admin) = endpoints.admin {
        routes = crate::admin::mount(routes, server, admin)?;
    }
    // What the QUIC endpoint takes is what discovery promises.
    let max_datagram = endpoints.quic_limits.max_incoming_datagram;
    // Hashes stand in for a CA only for the development certificate (at most 14 days).
    let pin_hashes = endpoints.identity.is_development();
    let mut quic = QuicListener::builder(endpoints.identity)
        .bind(endpoints.quic)
        .limits(endpoints.quic_limits);
    let mut ws = endpoints.ws;
    if let Some(origins) = endpoints.allowed_origins {
        quic = quic.allow_origins(origins.iter().cloned());
        ws = ws.allow_origins(origins);
    }
    if let Some(hook) = endpoints.pre_accept {
        quic = quic.pre_accept_hook(hook);
    }
    let quic = quic.listen().await?;
    let handle = quic.handle();
    if endpoints.https {
        ws = ws.tls(handle.tcp_tls_config()?);
    }
    let advertised = handle.clone();
    let ws_config = ws.webtransport(move || {
        let hashes = if pin_hashes {
            let current = advertised.certificate_hashes();
            current.iter().map(|hash| hash.to_base64()).collect()
        } else {
            Vec::new()
        };
        Some(WebTransportInfo::new(
            advertised.local_addr().port(),
            advertised.path(),
            hashes,
            max_datagram,
        ))
    });
    let ws = quicket_ws::bind_with(endpoints.http, ws_config, routes).await?;
    let http = quicket_core::transport::Listener::local_addr(&ws).unwrap_or(endpoints.http);
    server.listen(quic);
    server.listen(ws);
    Ok(Serving { quic: handle, http })
}
