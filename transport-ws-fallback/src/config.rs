//! The WebSocket endpoint's configuration.

use std::fmt;
use std::sync::Arc;

use tokio_rustls::rustls;

/// What the discovery endpoint says about WebTransport, supplied by the QUIC listener.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebTransportInfo {
    /// The UDP port of the WebTransport endpoint.
    pub port: u16,
    /// Its path, e.g. `/quicket`.
    pub path: String,
    /// SHA-256 hashes of the certificates to pin, as base64, current first.
    pub certificate_hashes: Vec<String>,
    /// The largest datagram (a whole frame) a client should send.
    pub max_datagram_size: usize,
}

impl WebTransportInfo {
    /// Describes a WebTransport endpoint.
    pub fn new(
        port: u16,
        path: impl Into<String>,
        certificate_hashes: Vec<String>,
        max_datagram_size: usize,
    ) -> Self {
        Self {
            port,
            path: path.into(),
            certificate_hashes,
            max_datagram_size,
        }
    }
}

type InfoFn = dyn Fn() -> Option<WebTransportInfo> + Send + Sync;

/// Configuration of the WebSocket endpoint and its discovery route.
#[derive(Clone)]
#[non_exhaustive]
pub struct WsConfig {
    /// The WebSocket path. Default `/quicket`.
    pub path: String,
    /// The discovery path. Default `/quicket/info`.
    pub info_path: String,
    /// The largest message accepted, checked from the frame header before any of it is
    /// buffered; a larger one closes the socket with 1009. Default 1 MiB (core's frame limit).
    pub max_message_size: usize,
    /// Bytes read from the socket at a time; each connection holds a buffer this big, so it
    /// is most of an idle connection's memory. Default 8 KiB.
    pub read_buffer_size: usize,
    /// Bytes written before the socket flushes. Default 16 KiB.
    pub write_buffer_size: usize,
    /// Bytes the socket may hold unwritten; core's own queue bounds what waits beyond it.
    /// Default 1 MiB.
    pub max_write_buffer_size: usize,
    /// Origins allowed to connect; `None` allows any (native clients send none).
    pub allowed_origins: Option<Vec<String>>,
    /// Upgraded sockets waiting for the server to take them; beyond it, upgrades get 503.
    /// Default 256.
    pub pending_connections: usize,
    /// How long a client has to send its HTTP request headers (the WebSocket upgrade), with
    /// [`bind`](crate::bind); a slow or silent client is dropped after it. Default 10 s.
    pub header_read_timeout: std::time::Duration,
    /// Bytes of an HTTP request's head (request line and headers) buffered before it is
    /// refused, with [`bind`](crate::bind): a client that never ends its headers holds no
    /// more than this. At least 8 KiB. Default 32 KiB, room for large cookies.
    pub max_request_head: usize,
    /// The host (and port, when not the listener's) that clients reach this server by, e.g.
    /// `chat.example.com` or `chat.example.com:8443` behind a proxy: the discovery document's
    /// URLs name it. Without one they name the address the client's connection came in on,
    /// never the request's `Host` header, which any client may set. Default `None`.
    pub public_host: Option<String>,
    /// The WebTransport endpoint to advertise, asked on every discovery request so rotated
    /// certificate hashes show at once.
    pub webtransport: Option<Arc<InfoFn>>,
    /// Serve HTTPS and `wss://` with this TLS configuration, with [`bind`](crate::bind);
    /// `quicket::serve` passes the WebTransport endpoint's, so one certificate (and its
    /// reloads) serves both. Default `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Reverse proxies whose `X-Forwarded-For` is believed: a connection from one of these
    /// addresses counts as coming from the last address the proxy appended, so per-address
    /// limits apply to each client instead of to the proxy. Default empty: the header is
    /// ignored, since any client can send it.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Whether clients reach this endpoint over TLS, for the scheme of the discovery
    /// document's WebSocket URL: `true` behind a proxy that terminates TLS. Default `None`:
    /// whether [`WsConfig::tls`] is set.
    pub public_tls: Option<bool>,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            path: "/quicket".into(),
            info_path: "/quicket/info".into(),
            max_message_size: 1 << 20,
            read_buffer_size: 8 << 10,
            write_buffer_size: 16 << 10,
            max_write_buffer_size: 1 << 20,
            allowed_origins: None,
            pending_connections: 256,
            header_read_timeout: std::time::Duration::from_secs(10),
            max_request_head: 32 << 10,
            public_host: None,
            webtransport: None,
            tls: None,
            trusted_proxies: Vec::new(),
            public_tls: None,
        }
    }
}

impl WsConfig {
    /// Allows browser pages from these origins only (e.g. `https://game.example`).
    #[must_use]
    pub fn allow_origins<I: IntoIterator<Item = S>, S: Into<String>>(mut self, origins: I) -> Self {
        self.allowed_origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Advertises a WebTransport endpoint in discovery.
    #[must_use]
    pub fn webtransport<F>(mut self, info: F) -> Self
    where
        F: Fn() -> Option<WebTransportInfo> + Send + Sync + 'static,
    {
        self.webtransport = Some(Arc::new(info));
        self
    }

    /// Sets [`WsConfig::public_host`].
    #[must_use]
    pub fn public_host(mut self, host: impl Into<String>) -> Self {
        self.public_host = Some(host.into());
        self
    }

    /// Sets [`WsConfig::tls`]: HTTPS and `wss://`.
    #[must_use]
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Sets [`WsConfig::trusted_proxies`].
    #[must_use]
    pub fn trusted_proxies<I: IntoIterator<Item = std::net::IpAddr>>(mut self, proxies: I) -> Self {
        self.trusted_proxies = proxies.into_iter().collect();
        self
    }

    /// Sets [`WsConfig::public_tls`].
    #[must_use]
    pub fn public_tls(mut self, secure: bool) -> Self {
        self.public_tls = Some(secure);
        self
    }

    /// Whether the discovery document advertises `wss://`.
    pub(crate) fn advertises_tls(&self) -> bool {
        self.public_tls.unwrap_or(self.tls.is_some())
    }

    /// Sets [`WsConfig::max_message_size`].
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }
}

quicket_core::setters!(WsConfig {
    path: String,
    info_path: String,
    read_buffer_size: usize,
    write_buffer_size: usize,
    max_write_buffer_size: usize,
    pending_connections: usize,
    header_read_timeout: std::time::Duration,
    max_request_head: usize,
});

impl fmt::Debug for WsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsConfig")
            .field("path", &self.path)
            .field("info_path", &self.info_path)
            .field("max_message_size", &self.max_message_size)
            .field("allowed_origins", &self.allowed_origins)
            .field("public_host", &self.public_host)
            .field("webtransport", &self.webtransport.is_some())
            .field("tls", &self.tls.is_some())
            .field("trusted_proxies", &self.trusted_proxies)
            .field("public_tls", &self.public_tls)
            .finish_non_exhaustive()
    }
}
