//! Connecting like a browser does: read the server's discovery document, try WebTransport,
//! fall back to WebSocket.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quicket_core::transport::{Connector, TransportError};
use quicket_core::{Client, ClientBuilder, ConnectError, with_causes};
use quicket_quic::{CertificateHash, QuicConnector, ServerTrust};
use quicket_ws::rustls::ClientConfig;
use quicket_ws::{ClientStream, WsConnector};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::either::AnyConnection;

/// The largest discovery document read.
const MAX_DISCOVERY: usize = 64 * 1024;

/// The server's discovery document, from `GET /quicket/info`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Discovery {
    /// The protocol version the server speaks.
    pub protocol_version: u16,
    /// The WebTransport URL, if the server offers it.
    pub webtransport: Option<String>,
    /// Certificate hashes for `serverCertificateHashes`, current first.
    #[serde(default)]
    pub certificate_hashes: Vec<DiscoveredHash>,
    /// The WebSocket URL.
    pub websocket: String,
    /// The largest datagram (a whole frame) to send.
    pub max_datagram_size: Option<usize>,
}

impl Discovery {
    /// How to trust the WebTransport server: by the listed certificate hashes (a self-signed
    /// certificate), or by the system's roots when none are listed.
    pub fn server_trust(&self) -> ServerTrust {
        let hashes: Vec<_> = self
            .certificate_hashes
            .iter()
            .filter_map(|h| decode_hash(&h.value))
            .collect();
        if hashes.is_empty() {
            ServerTrust::NativeRoots
        } else {
            ServerTrust::Hashes(hashes)
        }
    }
}

/// One certificate hash as discovery lists it.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct DiscoveredHash {
    /// Always `sha-256`.
    pub algorithm: String,
    /// The hash, base64.
    pub value: String,
}

/// How a client chooses its transport.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FallbackOptions {
    /// How long WebTransport may take before WebSocket is tried. Default 3 s.
    pub webtransport_deadline: Duration,
    /// Skip WebTransport altogether.
    pub websocket_only: bool,
    /// Which certificates to trust on every path: `https://` discovery, `wss://` and
    /// WebTransport. Default `None`: the system's roots over TCP, and for WebTransport the
    /// hashes discovery lists (the development certificate) or else the system's roots.
    pub trust: Option<ServerTrust>,
}

impl Default for FallbackOptions {
    fn default() -> Self {
        Self {
            webtransport_deadline: Duration::from_secs(3),
            websocket_only: false,
            trust: None,
        }
    }
}

impl FallbackOptions {
    /// Sets [`FallbackOptions::webtransport_deadline`].
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.webtransport_deadline = deadline;
        self
    }

    /// Connects over WebSocket only.
    pub fn websocket_only(mut self) -> Self {
        self.websocket_only = true;
        self
    }

    /// Sets [`FallbackOptions::trust`].
    pub fn trust(mut self, trust: ServerTrust) -> Self {
        self.trust = Some(trust);
        self
    }

    /// The TLS configuration for `https://` and `wss://`.
    fn tcp_tls(&self) -> Result<Arc<ClientConfig>, ConnectError> {
        let trust = self.trust.as_ref().unwrap_or(&ServerTrust::NativeRoots);
        trust.tcp_client_config().map_err(|err| {
            ConnectError::Transport(TransportError::connect_from("TLS configuration", err))
        })
    }
}

/// Tries WebTransport within a deadline, then WebSocket, on every connect.
#[derive(Clone)]
pub struct FallbackConnector {
    quic: Option<(QuicConnector, String)>,
    ws: (WsConnector, String),
    deadline: Duration,
}

impl FallbackConnector {
    /// A connector for what `discovery` offers.
    pub fn new(discovery: &Discovery, options: &FallbackOptions) -> Result<Self, ConnectError> {
        let trust = options
            .trust
            .clone()
            .unwrap_or_else(|| discovery.server_trust());
        let quic = match (&discovery.webtransport, options.websocket_only) {
            (Some(url), false) => QuicConnector::new(url.clone(), trust)
                .ok()
                .map(|connector| (connector, url.clone())),
            _ => None,
        };
        let url = discovery.websocket.clone();
        let mut ws = WsConnector::new(url.clone());
        if url.starts_with("wss://") {
            ws = ws.tls(options.tcp_tls()?);
        }
        Ok(Self {
            quic,
            ws: (ws, url),
            deadline: options.webtransport_deadline,
        })
    }
}

impl Connector for FallbackConnector {
    type Connection = AnyConnection;

    async fn connect(&self) -> Result<AnyConnection, TransportError> {
        let mut quic_failure = None;
        if let Some((quic, url)) = &self.quic {
            let started = Instant::now();
            match tokio::time::timeout(self.deadline, quic.connect()).await {
                Ok(Ok(connection)) => return Ok(AnyConnection::Quic(connection)),
                Ok(Err(err)) => {
                    tracing::info!(%err, elapsed = ?started.elapsed(), "WebTransport failed; trying WebSocket");
                    quic_failure = Some(format!("WebTransport {url}: {}", reason(&err)));
                }
                Err(_) => {
                    tracing::info!(deadline = ?self.deadline, "WebTransport too slow; trying WebSocket");
                    quic_failure = Some(format!(
                        "WebTransport {url}: not open within {:?}",
                        self.deadline
                    ));
                }
            }
        }
        let (ws, url) = &self.ws;
        match ws.connect().await {
            Ok(ws) => Ok(AnyConnection::Ws(Box::new(ws))),
            Err(err @ (TransportError::Io(_) | TransportError::Connect { .. })) => {
                let tried =
                    quic_failure.map_or_else(String::new, |quic| format!(" (tried after {quic})"));
                Err(within(format!("WebSocket {url}{tried}"), err))
            }
            Err(err) => Err(err),
        }
    }
}

/// Connects to a quicket server at `base` (`http://host:port`): reads its discovery
/// document, tries WebTransport, and falls back to WebSocket. `client.transport()` says which.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let client = quicket::connect("http://127.0.0.1:8080").await?;
/// let reply: String = client.emit_with_ack("echo", "hi").await?;
/// println!("{reply} over {}", client.transport());
/// # Ok(()) }
/// ```
pub async fn connect(base: &str) -> Result<Client, ConnectError> {
    connect_with(Client::builder(), base, &FallbackOptions::default()).await
}

/// [`connect`] with a configured client and fallback options. A WebTransport session that
/// opens but never completes quicket's handshake is retried once over WebSocket.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
///
/// use quicket::{Client, Data, FallbackOptions};
///
/// let builder = Client::builder()
///     .auth(serde_json::json!({ "token": "secret" }))
///     .on("chat", |Data(line): Data<String>| async move { println!("{line}") });
/// let options = FallbackOptions::default().deadline(Duration::from_secs(1));
/// let client = quicket::connect_with(builder, "http://127.0.0.1:8080", &options).await?;
/// # drop(client);
/// # Ok(()) }
/// ```
pub async fn connect_with(
    builder: ClientBuilder,
    base: &str,
    options: &FallbackOptions,
) -> Result<Client, ConnectError> {
    let discovery = discover_with(base, options).await?;
    let connector = FallbackConnector::new(&discovery, options)?;
    match builder.clone().connect(&connector).await {
        // A WebTransport session can open and still never carry a handshake (a middlebox that
        // lets QUIC's handshake through and little else): retry once over WebSocket.
        Err(ConnectError::Timeout(_) | ConnectError::Protocol(_)) if connector.quic.is_some() => {
            tracing::info!("the handshake failed on WebTransport; retrying over WebSocket");
            let websocket = FallbackConnector::new(&discovery, &options.clone().websocket_only())?;
            builder.connect(&websocket).await
        }
        attempt => attempt,
    }
}

/// Connects over WebTransport only, to `url` (`https://host:port/quicket`).
pub async fn connect_quic(url: &str, trust: ServerTrust) -> Result<Client, ConnectError> {
    let connector = QuicConnector::new(url, trust).map_err(|err| {
        ConnectError::Transport(TransportError::connect_from(
            format!("WebTransport {url}"),
            err,
        ))
    })?;
    let connected = Client::builder().connect(&connector).await;
    connected.map_err(|err| naming("WebTransport", url, err))
}

/// Connects over WebSocket only, to `url` (`ws://host:port/quicket`, or `wss://` trusting
/// the system's roots).
pub async fn connect_ws(url: &str) -> Result<Client, ConnectError> {
    let mut connector = WsConnector::new(url);
    if url.starts_with("wss://") {
        connector = connector.tls(FallbackOptions::default().tcp_tls()?);
    }
    let connected = Client::builder().connect(&connector).await;
    connected.map_err(|err| naming("WebSocket", url, err))
}

/// A failure to open the transport, with what was being opened and where; the server's
/// answers (a refusal, a timeout) stay as they are, to be matched on.
fn naming(transport: &str, url: &str, err: ConnectError) -> ConnectError {
    match err {
        ConnectError::Transport(err @ (TransportError::Io(_) | TransportError::Connect { .. })) => {
            ConnectError::Transport(within(format!("{transport} {url}"), err))
        }
        other => other,
    }
}

/// `err`, a transport that did not open, with `context` (which transport, where) before what
/// it says; its source chain is kept, and an I/O error becomes the source itself.
fn within(context: String, err: TransportError) -> TransportError {
    match err {
        TransportError::Connect { what, source } => TransportError::Connect {
            what: format!("{context}: {what}"),
            source,
        },
        TransportError::Io(io) => TransportError::connect_from(context, io),
        other => TransportError::connect_from(context, other),
    }
}

/// Why a transport did not open, its causes included, without the "cannot connect" its
/// display starts with.
fn reason(err: &TransportError) -> String {
    match err {
        TransportError::Connect { what, source: None } => what.clone(),
        TransportError::Connect {
            what,
            source: Some(source),
        } => format!("{what}: {}", with_causes(&**source)),
        other => with_causes(other),
    }
}

/// Reads the discovery document of the server at `base` (`http://host:port`, or
/// `https://host:port` trusting the system's roots).
pub async fn discover(base: &str) -> Result<Discovery, ConnectError> {
    discover_with(base, &FallbackOptions::default()).await
}

/// [`discover`] with `options`' trust for `https://`.
pub async fn discover_with(
    base: &str,
    options: &FallbackOptions,
) -> Result<Discovery, ConnectError> {
    let (secure, rest) = match (base.strip_prefix("https://"), base.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => {
            let why =
                format!("discovery at {base}: the base URL must start with http:// or https://");
            return Err(ConnectError::Transport(TransportError::connect(why)));
        }
    };
    let authority = rest.trim_end_matches('/');
    let scheme = if secure { "https" } else { "http" };
    let url = format!("{scheme}://{authority}/quicket/info");
    let bad = |why: String| {
        ConnectError::Transport(TransportError::connect(format!(
            "discovery at {url}: {why}"
        )))
    };
    let (host, port) = split_authority(authority, if secure { 443 } else { 80 })
        .ok_or_else(|| bad("no host and port in the URL".into()))?;
    let tls = if secure {
        Some(options.tcp_tls()?)
    } else {
        None
    };
    let mut stream = ClientStream::connect(host, port, tls)
        .await
        .map_err(|err| ConnectError::Transport(within(format!("discovery at {url}"), err)))?;
    let request = format!(
        "GET /quicket/info HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nAccept: application/json\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|err| bad(err.to_string()))?;
    let mut response = Vec::new();
    // A TLS peer that closes without close_notify still sent the whole body (Connection:
    // close), so an unexpected end after some bytes is the end.
    let read = (&mut stream)
        .take(MAX_DISCOVERY as u64)
        .read_to_end(&mut response)
        .await;
    if let Err(err) = read
        && (response.is_empty() || err.kind() != std::io::ErrorKind::UnexpectedEof)
    {
        return Err(bad(err.to_string()));
    }
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| bad("no HTTP body".into()))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(bad(head.lines().next().unwrap_or_default().to_owned()));
    }
    serde_json::from_str(body).map_err(|err| bad(format!("not a discovery document: {err}")))
}

/// `host:port` (IPv6 in brackets), or `host` with the scheme's port.
fn split_authority(authority: &str, default_port: u16) -> Option<(&str, u16)> {
    let colon = match authority.rfind(':') {
        Some(at) if !authority[at..].contains(']') => Some(at),
        _ => None,
    };
    match colon {
        Some(at) => Some((&authority[..at], authority[at + 1..].parse().ok()?)),
        None if authority.is_empty() => None,
        None => Some((authority, default_port)),
    }
}

/// Standard base64 of 32 bytes.
fn decode_hash(text: &str) -> Option<CertificateHash> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::with_capacity(32);
    for byte in text.bytes().take_while(|b| *b != b'=') {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = bits << 6 | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out.try_into().ok().map(CertificateHash::from_bytes)
}

#[cfg(test)]
mod tests {
    use super::decode_hash;

    #[test]
    fn a_base64_hash_decodes_to_its_bytes() {
        // SHA-256("abc")
        let hash = decode_hash("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=").unwrap();
        assert_eq!(
            hash.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(decode_hash("not base64!").is_none());
        assert!(decode_hash("YWJj").is_none(), "three bytes are not a hash");
    }
}
