//! The server side: an axum router with the WebSocket route and the discovery route, to run
//! standalone or to mount in the application's own router.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use quicket_core::transport::{Listener, TransportError};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::WsConfig;
use crate::connection::WsConnection;

/// A server-side WebSocket connection.
pub type WsServerConnection = WsConnection<WebSocket>;

/// Yields the WebSocket connections of a [`router`] or a [`bind`]; give it to
/// `Server::listen`.
pub struct WsListener {
    incoming: mpsc::Receiver<WsServerConnection>,
    local_addr: Option<SocketAddr>,
    server: Option<JoinHandle<()>>,
}

impl Drop for WsListener {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

impl Listener for WsListener {
    type Connection = WsServerConnection;

    async fn accept(&mut self) -> Result<WsServerConnection, TransportError> {
        self.incoming.recv().await.ok_or(TransportError::Closed)
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }
}

struct Endpoint {
    config: WsConfig,
    upgraded: mpsc::Sender<WsServerConnection>,
}

/// The WebSocket and discovery routes, to merge into an application's router, and the
/// listener of their connections. Serve the router with
/// `into_make_service_with_connect_info::<SocketAddr>()` for peer addresses.
pub fn router(config: WsConfig) -> (Router, WsListener) {
    let (upgraded, incoming) = mpsc::channel(config.pending_connections.max(1));
    let (path, info_path) = (config.path.clone(), config.info_path.clone());
    let endpoint = Arc::new(Endpoint { config, upgraded });
    let router = Router::new()
        .route(&path, get(upgrade))
        .route(&info_path, get(discovery))
        .with_state(endpoint);
    (
        router,
        WsListener {
            incoming,
            local_addr: None,
            server: None,
        },
    )
}

/// Serves the routes of [`router`] alone on `addr`, with a deadline on each request's headers
/// so that a client that never finishes its upgrade request holds nothing for long.
pub async fn bind(addr: SocketAddr, config: WsConfig) -> std::io::Result<WsListener> {
    bind_with(addr, config, Router::new()).await
}

/// [`bind`], serving the application's own `routes` (a page, its scripts) beside quicket's.
pub async fn bind_with(
    addr: SocketAddr,
    config: WsConfig,
    routes: Router,
) -> std::io::Result<WsListener> {
    let tcp = tokio::net::TcpListener::bind(addr).await?;
    let local_addr = tcp.local_addr()?;
    let head = RequestHead {
        read_timeout: config.header_read_timeout,
        // hyper refuses less than 8 KiB.
        max_size: config.max_request_head.max(8 << 10),
        tls: config.tls.clone().map(tokio_rustls::TlsAcceptor::from),
    };
    let (quicket, mut listener) = router(config);
    let app = routes.merge(quicket);
    listener.server = Some(tokio::spawn(serve_http(tcp, app, head)));
    listener.local_addr = Some(local_addr);
    Ok(listener)
}

/// What a client may take to send its request head, and how large it may be.
#[derive(Clone)]
struct RequestHead {
    read_timeout: std::time::Duration,
    max_size: usize,
    /// TLS first, when the endpoint serves HTTPS; its handshake shares the header deadline.
    tls: Option<tokio_rustls::TlsAcceptor>,
}

async fn serve_http(tcp: tokio::net::TcpListener, router: Router, head: RequestHead) {
    use hyper_util::service::TowerToHyperService;

    loop {
        let (stream, peer) = match tcp.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors, say: back off a little rather than spin.
                tracing::warn!(%err, "accepting a TCP connection failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().ok().map(LocalAddr);
        let service = TowerToHyperService::new(
            router
                .clone()
                .layer(axum::Extension(ConnectInfo(peer)))
                .layer(axum::Extension(local)),
        );
        let head = head.clone();
        tokio::spawn(async move {
            let Some(acceptor) = head.tls.clone() else {
                return serve_connection(stream, service, &head, peer).await;
            };
            match tokio::time::timeout(head.read_timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => serve_connection(tls, service, &head, peer).await,
                Ok(Err(err)) => tracing::debug!(%err, %peer, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake too slow"),
            }
        });
    }
}

/// HTTP/1.1 with upgrades on one accepted connection, plain or TLS.
async fn serve_connection<I, S>(io: I, service: S, head: &RequestHead, peer: SocketAddr)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = hyper::Response<axum::body::Body>,
        > + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    use hyper_util::rt::{TokioIo, TokioTimer};

    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(head.read_timeout)
        .max_buf_size(head.max_size)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    if let Err(err) = connection.await {
        tracing::debug!(%err, %peer, "HTTP connection ended");
    }
}

async fn upgrade(
    State(endpoint): State<Arc<Endpoint>>,
    headers: HeaderMap,
    extensions: Extensions,
    upgrade: WebSocketUpgrade,
) -> Response {
    let config = &endpoint.config;
    if let Some(allowed) = &config.allowed_origins {
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        if let Some(origin) = origin.filter(|origin| !allowed.iter().any(|a| a == origin)) {
            tracing::debug!(origin, "WebSocket origin refused");
            return StatusCode::FORBIDDEN.into_response();
        }
    }
    let Ok(slot) = endpoint.upgraded.clone().try_reserve_owned() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let connected_from = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let peer = connected_from.map(|addr| forwarded_for(addr, &headers, &config.trusted_proxies));
    upgrade
        .max_message_size(config.max_message_size)
        .max_frame_size(config.max_message_size)
        .read_buffer_size(config.read_buffer_size)
        .write_buffer_size(config.write_buffer_size)
        .max_write_buffer_size(config.max_write_buffer_size)
        .on_upgrade(move |socket| async move {
            slot.send(WsConnection::new(socket, peer));
        })
}

/// The client's address: the last hop a trusted proxy appended to `X-Forwarded-For`, when the
/// connection comes from one; else the connection's own address. Per-address limits then
/// apply to clients rather than to the proxy.
fn forwarded_for(
    addr: SocketAddr,
    headers: &HeaderMap,
    trusted: &[std::net::IpAddr],
) -> SocketAddr {
    if !trusted.contains(&addr.ip()) {
        return addr;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    hops.last()
        .and_then(|hop| hop.trim().parse::<std::net::IpAddr>().ok())
        .map_or(addr, |client| SocketAddr::new(client, 0))
}

/// The address a request's connection came in on: what discovery names when no public host
/// is configured.
#[derive(Clone, Copy)]
struct LocalAddr(SocketAddr);

/// `GET /quicket/info`: where and how a browser connects.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Info {
    protocol_version: u16,
    webtransport: Option<String>,
    certificate_hashes: Vec<CertificateHash>,
    websocket: String,
    max_datagram_size: Option<usize>,
}

/// As `serverCertificateHashes` takes them.
#[derive(Serialize)]
struct CertificateHash {
    algorithm: &'static str,
    value: String,
}

async fn discovery(State(endpoint): State<Arc<Endpoint>>, extensions: Extensions) -> Response {
    let config = &endpoint.config;
    let local = extensions.get::<Option<LocalAddr>>().copied().flatten();
    let host = match (&config.public_host, local) {
        (Some(host), _) => host.clone(),
        (None, Some(LocalAddr(addr))) => host_of(addr),
        // Mounted into an application's own server without a public host: nothing better
        // than the loopback name, and never the client's `Host` header.
        (None, None) => "localhost".to_owned(),
    };
    let hostname = host_without_port(&host);
    let webtransport = config.webtransport.as_ref().and_then(|info| info());
    let info = Info {
        protocol_version: quicket_core::PROTOCOL_VERSION,
        webtransport: webtransport
            .as_ref()
            .map(|wt| format!("https://{hostname}:{}{}", wt.port, wt.path)),
        certificate_hashes: webtransport
            .as_ref()
            .map(|wt| {
                wt.certificate_hashes
                    .iter()
                    .map(|value| CertificateHash {
                        algorithm: "sha-256",
                        value: value.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        websocket: format!(
            "{}://{host}{}",
            if config.advertises_tls() { "wss" } else { "ws" },
            config.path
        ),
        max_datagram_size: webtransport.as_ref().map(|wt| wt.max_datagram_size),
    };
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        axum::Json(info),
    )
        .into_response()
}

/// An address as a URL host with its port, IPv4-mapped addresses as IPv4.
fn host_of(addr: SocketAddr) -> String {
    match addr.ip() {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("{v4}:{}", addr.port()),
            None => format!("[{v6}]:{}", addr.port()),
        },
        std::net::IpAddr::V4(v4) => format!("{v4}:{}", addr.port()),
    }
}

/// `example.com:8080` → `example.com`; `[::1]:8080` → `[::1]`.
fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::{host_of, host_without_port};

    #[test]
    fn hosts_lose_their_ports() {
        assert_eq!(host_without_port("example.com:8080"), "example.com");
        assert_eq!(host_without_port("example.com"), "example.com");
        assert_eq!(host_without_port("[::1]:9000"), "[::1]");
        assert_eq!(host_without_port("127.0.0.1:1"), "127.0.0.1");
    }

    #[test]
    fn addresses_become_url_hosts() {
        assert_eq!(host_of("127.0.0.1:80".parse().unwrap()), "127.0.0.1:80");
        assert_eq!(
            host_of("[::ffff:10.0.0.1]:80".parse().unwrap()),
            "10.0.0.1:80"
        );
        assert_eq!(host_of("[::1]:8080".parse().unwrap()), "[::1]:8080");
    }
}
