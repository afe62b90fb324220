//! quicket over WebSocket: the fallback when UDP is blocked, carrying exactly the frames of
//! WebTransport, one binary message each, plus the HTTP discovery endpoint browsers read to
//! learn where to connect.
//!
//! ```no_run
//! use quicket_core::{Client, Server};
//! use quicket_ws::{WsConfig, WsConnector};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::builder().build();
//! // Standalone; or `quicket_ws::router(..)` to mount into an existing axum Router.
//! let listener = quicket_ws::bind("0.0.0.0:8080".parse()?, WsConfig::default()).await?;
//! server.listen(listener);
//!
//! let client = Client::builder().connect(&WsConnector::new("ws://127.0.0.1:8080/quicket")).await?;
//! client.emit("hello", "over WebSocket")?;
//! # Ok(()) }
//! ```

mod client;
mod config;
mod connection;
mod message;
mod server;

pub use crate::client::{ClientStream, WsClientConnection, WsClientStream, WsConnector};
pub use crate::config::{WebTransportInfo, WsConfig};
pub use crate::connection::{WsConnection, WsReader, WsWriter};
pub use crate::message::{close_code, close_reason};
pub use crate::server::{WsListener, WsServerConnection, bind, bind_with, router};
/// rustls, as the TLS configurations of [`WsConfig::tls`] and [`WsConnector::tls`] take it.
pub use tokio_rustls::rustls;

/// axum, as quicket-ws uses it: build the routes you pass to [`bind_with`] with it.
pub use axum;
