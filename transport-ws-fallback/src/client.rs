//! The client side: tokio-tungstenite, the same tungstenite as axum's, over TCP or over
//! TLS (rustls with ring) for `wss://`.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use quicket_core::transport::{Connector, TransportError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsConnector, client::TlsStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::connection::WsConnection;

/// The byte stream under a client's WebSocket: TCP for `ws://`, TLS over TCP for `wss://`.
#[derive(Debug)]
pub enum ClientStream {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://` (boxed: a TLS session is large).
    Tls(Box<TlsStream<TcpStream>>),
}

/// A client-side WebSocket stream.
pub type WsClientStream = WebSocketStream<ClientStream>;

/// A client-side WebSocket connection.
pub type WsClientConnection = WsConnection<WsClientStream>;

/// Opens WebSocket connections to one `ws://` or `wss://` URL.
#[derive(Debug, Clone)]
pub struct WsConnector {
    url: String,
    max_message_size: usize,
    tls: Option<Arc<ClientConfig>>,
}

impl WsConnector {
    /// A connector to `url`, e.g. `ws://127.0.0.1:8080/quicket`. A `wss://` URL also needs
    /// [`WsConnector::tls`].
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_message_size: 1 << 20,
            tls: None,
        }
    }

    /// The TLS configuration for `wss://`: which servers to trust (the facade builds it from
    /// a `ServerTrust`: the system's roots, or pinned certificate hashes).
    pub fn tls(mut self, config: Arc<ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// The largest message accepted from the server (default 1 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// The URL it connects to.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn open(&self) -> Result<(ClientStream, Request), TransportError> {
        let request = self
            .url
            .as_str()
            .into_client_request()
            .map_err(|err| TransportError::connect_from("the WebSocket URL", err))?;
        let uri = request.uri();
        let secure = match uri.scheme_str() {
            Some("wss") => true,
            Some("ws") => false,
            other => {
                let why = format!("not a WebSocket URL (scheme {other:?})");
                return Err(TransportError::connect(why));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| TransportError::connect("the URL has no host"))?
            .to_owned();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let tls = match (secure, &self.tls) {
            (false, _) => None,
            (true, Some(config)) => Some(Arc::clone(config)),
            (true, None) => {
                let why = "a wss:// URL needs a TLS configuration (WsConnector::tls)";
                return Err(TransportError::connect(why));
            }
        };
        Ok((ClientStream::connect(&host, port, tls).await?, request))
    }
}

impl Connector for WsConnector {
    type Connection = WsClientConnection;

    async fn connect(&self) -> Result<WsClientConnection, TransportError> {
        let config = WebSocketConfig::default()
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_message_size))
            .read_buffer_size(8 << 10)
            .write_buffer_size(16 << 10)
            .max_write_buffer_size(1 << 20);
        let (stream, request) = self.open().await?;
        let peer = stream.tcp().peer_addr().ok();
        let (socket, _response) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                .await
                .map_err(|err| TransportError::connect_from("the WebSocket handshake", err))?;
        Ok(WsConnection::new(socket, peer))
    }
}

impl ClientStream {
    /// Connects to `host` (a name or an address, IPv6 with or without brackets) on `port`,
    /// over TLS when given a configuration, which also checks the certificate against the
    /// name. The error says which step failed, with the operating system's or TLS's error as
    /// its source.
    pub async fn connect(
        host: &str,
        port: u16,
        tls: Option<Arc<ClientConfig>>,
    ) -> Result<Self, TransportError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let tcp = TcpStream::connect((bare, port))
            .await
            .map_err(|err| TransportError::connect_from("TCP", err))?;
        let _ = tcp.set_nodelay(true);
        let Some(config) = tls else {
            return Ok(ClientStream::Plain(tcp));
        };
        let name = ServerName::try_from(bare.to_owned())
            .map_err(|err| TransportError::connect_from("TLS server name", err))?;
        let tls = TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|err| TransportError::connect_from("TLS", err))?;
        Ok(ClientStream::Tls(Box::new(tls)))
    }

    /// The TCP connection under it.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            ClientStream::Plain(tcp) => tcp,
            ClientStream::Tls(tls) => tls.get_ref().0,
        }
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            ClientStream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            ClientStream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            ClientStream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            ClientStream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}
