//! # quicket
//!
//! socket.io's programming model (rooms, named events, acknowledgements, presence) for Rust
//! game and IoT backends, carried over QUIC/WebTransport with a WebSocket fallback.
//!
//! This facade holds the runtime (server, sockets, client, rooms, presence, recovery) at its
//! root and, as [`proto`], the wire format. Transports are cargo features, both on by default: `quic`
//! (WebTransport over QUIC, `quicket::quic`) and `ws` (WebSocket and discovery,
//! `quicket::ws`). With both, `serve` runs one server on both transports and `connect`
//! connects like a browser: discovery, WebTransport, WebSocket when UDP is blocked. The
//! in-memory transport in [`transport::memory`] is always there, for tests and embedding.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let server = quicket::Server::builder().build();
//! // WebTransport on UDP 4433, WebSocket and /quicket/info on TCP 8080, one set of rooms.
//! let serving = quicket::serve(&server, quicket::Endpoints::default()).await?;
//! println!("pin {}", serving.quic.certificate_hashes()[0]);
//!
//! let client = quicket::connect("http://127.0.0.1:8080").await?;
//! println!("connected over {}", client.transport());
//! # Ok(()) }
//! ```
//!
//! ## Guides
//!
//! The repository's `docs/` directory holds the guides, whose Rust code compiles as doctests
//! of this crate: `docs/getting-started.md` (a server and a browser page, step by step),
//! `docs/migrating-from-socketio.md` (socket.io's API and its equivalents here),
//! `docs/deployment.md` (certificates, ports, origins, proxies) and `docs/versioning.md` (the
//! crates' and the wire protocol's versions).
//!
//! ## A server
//!
//! ```
//! use quicket::{AckSender, Data, Server, Socket};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Chat { text: String }
//!
//! let server = Server::builder()
//!     .on_connect(|socket: Socket| async move {
//!         socket.join("lobby").ok();
//!         socket.presence("lobby").track("ada", "online").ok();
//!         socket.on("chat", |socket: Socket, Data(chat): Data<Chat>, ack: AckSender| async move {
//!             // Everyone else in the lobby; the payload is encoded once per codec in use.
//!             socket.to("lobby").emit("chat", &chat).ok();
//!             ack.send("ok").ok();
//!         });
//!     })
//!     .build();
//! # drop(server);
//! ```
//!
//! ## A client
//!
//! ```
//! # use quicket::transport::memory::{self, MemoryConfig};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = quicket::Server::builder()
//! #     .on_connect(|s: quicket::Socket| async move {
//! #         s.on("chat", |ack: quicket::AckSender| async move { ack.send("ok").ok(); });
//! #     })
//! #     .build();
//! # let (listener, connector) = memory::pipe(MemoryConfig::default());
//! # server.listen(listener);
//! use quicket::{Client, Data};
//!
//! let client = Client::builder()
//!     .on("chat", |Data(line): Data<String>| async move { println!("{line}") })
//!     .connect(&connector)
//!     .await?;
//! let status: String = client.emit_with_ack("chat", "hello").await?;
//! assert_eq!(status, "ok");
//! client.volatile().emit("cursor", (10u16, 20u16))?;
//! client.disconnect().await;
//! # Ok(()) }
//! ```
//!
//! ## Presence
//!
//! A room's presence is who is there: keys (a user id) with one meta per connection that
//! tracks them, kept in step across the cluster, and diffs for subscribers.
//!
//! ```
//! # use quicket::transport::memory::{self, MemoryConfig};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use quicket::{AckSender, Client, Data, PresenceEvent, Server, Socket};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Device { kind: String }
//!
//! let server = Server::builder()
//!     .on_connect(|socket: Socket| async move {
//!         socket.on("enter", |socket: Socket, Data(user): Data<String>, ack: AckSender| async move {
//!             socket.join("lobby").ok();
//!             socket.presence("lobby").track(&user, Device { kind: "phone".into() }).ok();
//!             ack.send(()).ok();
//!         });
//!     })
//!     .build();
//! # let (listener, connector) = memory::pipe(MemoryConfig::default());
//! # server.listen(listener);
//! let client = Client::builder().connect(&connector).await?;
//! client.emit_with_ack::<()>("enter", "ada").await?;
//! let mut lobby = client.subscribe_presence("lobby")?;
//! assert_eq!(lobby.next().await, Some(PresenceEvent::Sync));
//! let devices: Vec<Device> = lobby.state().metas("ada")?;
//! assert_eq!(devices[0].kind, "phone");
//! // Later events carry their meta as sent: `lobby.decode_meta::<Device>(&meta)`.
//! # Ok(()) }
//! ```
//!
//! ## Recovery
//!
//! A connection that drops without a goodbye leaves its session for
//! [`RecoveryConfig::window`] (2 minutes by default). The client reconnects on its own and
//! resumes it: the same socket id and rooms, and every reliable event it missed, once, in
//! order, both ways. Handlers see no disconnect in between.
//!
//! ```
//! use std::time::Duration;
//!
//! use quicket::{RecoveryConfig, Server, ServerConfig};
//!
//! let recovery = RecoveryConfig::default()
//!     .window(Duration::from_secs(30))
//!     // A vanished user leaves the presence list sooner than the session ends.
//!     .presence_grace(Duration::from_secs(5));
//! let config = ServerConfig::default().recovery(Some(recovery));
//! let server = Server::builder()
//!     .config(config)
//!     .on_resume_failed(|socket, why| async move {
//!         // A new session where the client asked for its old one: send it a fresh state.
//!         let _ = socket.emit("resync", why.to_string());
//!     })
//!     .build();
//! # drop(server);
//! ```
//!
//! On the client, [`Client::recovered`] says whether the last connection resumed the
//! session, and [`ClientBuilder::on_reconnect`] runs after every reconnection.

pub use quicket_core::*;

/// The wire format: frames, tags and the bounded codec.
pub mod proto {
    pub use quicket_proto::*;
}

/// WebTransport over QUIC: listener, connector, certificates (feature `quic`, on by default).
#[cfg(feature = "quic")]
pub mod quic {
    pub use quicket_quic::*;
}

/// WebSocket and the discovery endpoint (feature `ws`, on by default).
#[cfg(feature = "ws")]
pub mod ws {
    pub use quicket_ws::*;
}

/// Many server nodes as one, on Redis: the cluster adapter (feature `redis`).
#[cfg(feature = "redis")]
pub mod redis {
    pub use quicket_redis::*;
}

#[cfg(all(feature = "quic", feature = "ws"))]
pub mod admin;
#[cfg(feature = "ws")]
mod client_script;
#[cfg(all(feature = "quic", feature = "ws"))]
mod either;
#[cfg(all(feature = "quic", feature = "ws"))]
mod endpoints;
#[cfg(all(feature = "quic", feature = "ws"))]
mod fallback;
#[cfg(feature = "prometheus")]
mod prometheus;

#[cfg(feature = "ws")]
pub use crate::client_script::{CLIENT_SCRIPT, CLIENT_SCRIPT_PATH};
#[cfg(all(feature = "quic", feature = "ws"))]
pub use crate::either::{AnyConnection, AnyReader, AnyWriter};
#[cfg(all(feature = "quic", feature = "ws"))]
pub use crate::endpoints::{BROWSER_DATAGRAM_LIMIT, Endpoints, ServeError, Serving, serve};
#[cfg(all(feature = "quic", feature = "ws"))]
pub use crate::fallback::{
    DiscoveredHash, Discovery, FallbackConnector, FallbackOptions, connect, connect_quic,
    connect_with, connect_ws, discover, discover_with,
};
#[cfg(feature = "prometheus")]
pub use crate::prometheus::MetricsError;

/// Compiles the README's example as a doctest, so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExample;

/// Compiles every Rust block of the getting-started guide as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../docs/getting-started.md")]
mod getting_started_guide {}

/// Compiles every Rust block of the socket.io migration guide as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../docs/migrating-from-socketio.md")]
mod migrating_guide {}

/// Compiles every Rust block of the deployment guide as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../docs/deployment.md")]
mod deployment_guide {}

/// Compiles every Rust block of the delivery classes guide as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../docs/delivery-classes.md")]
mod delivery_classes_guide {}

/// Compiles the metrics reference's example as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../docs/metrics.md")]
mod metrics_reference {}
