//! The client side: tokio-tungstenite, the same tungstenite as axum's.

use quicket_core::transport::{Connector, TransportError};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::connection::WsConnection;

/// A client-side WebSocket connection.
pub type WsClientConnection = WsConnection<WebSocketStream<MaybeTlsStream<TcpStream>>>;

/// Opens WebSocket connections to one `ws://` URL.
#[derive(Debug, Clone)]
pub struct WsConnector {
    url: String,
    max_message_size: usize,
}

impl WsConnector {
    /// A connector to `url`, e.g. `ws://127.0.0.1:8080/quicket`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_message_size: 1 << 20,
        }
    }

    /// The largest message accepted from the server (default 1 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
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
        let (socket, _response) =
            tokio_tungstenite::connect_async_with_config(&self.url, Some(config), true)
                .await
                .map_err(|err| TransportError::Connect(err.to_string()))?;
        let peer = match socket.get_ref() {
            MaybeTlsStream::Plain(tcp) => tcp.peer_addr().ok(),
            _ => None,
        };
        Ok(WsConnection::new(socket, peer))
    }
}
