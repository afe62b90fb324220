//! quicket's transport-agnostic runtime: sockets, rooms, named events, acknowledgements,
//! presence and heartbeats, the adapter seam, and the Rust client.
//!
//! Transports plug in through [`transport`]; [`transport::memory`] is built in.
//!
//! # A server and a client
//!
//! ```
//! use quicket_core::transport::memory::{self, MemoryConfig};
//! use quicket_core::{AckSender, Client, Data, Server, Socket};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Chat { user: String, text: String }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::builder()
//!     .on_connect(|socket: Socket| async move {
//!         socket.join("lobby").ok();
//!         socket.on("chat", |socket: Socket, Data(chat): Data<Chat>, ack: AckSender| async move {
//!             socket.to("lobby").emit("chat", &chat).ok();
//!             ack.send("delivered").ok();
//!         });
//!     })
//!     .build();
//! let (listener, connector) = memory::pipe(MemoryConfig::default());
//! server.listen(listener);
//!
//! let client = Client::builder().connect(&connector).await?;
//! let chat = Chat { user: "ada".into(), text: "hello".into() };
//! let status: String = client.emit_with_ack("chat", &chat).await?;
//! assert_eq!(status, "delivered");
//! # Ok(()) }
//! ```
//!
//! # Concurrency
//!
//! Each open connection runs one driver task, which owns all of its I/O. It reads frames all
//! the time: acks, pongs and disconnects take effect at once, while events wait in a bounded
//! backlog (`max_buffered_events`, `max_buffered_bytes`, and a server-wide byte budget) for one
//! of `max_concurrent_handlers` handler slots; only a full backlog stops reading, and one that
//! stays full past `backlog_timeout` disconnects its peer with `Flooding`. Handler futures run inside the driver task, each first polled
//! before the next event is taken, so handlers start in arrival order. The driver also drains
//! the connection's bounded outbound queue into the transport and keeps the heartbeat.
//!
//! Emits from any task push shared, already-encoded frames into that queue without waiting;
//! a reliable frame that does not fit closes that connection alone as a slow consumer, and a
//! volatile frame is dropped once the queue is half full. Rooms live behind one `RwLock` in
//! the [`LocalAdapter`], presence behind one `Mutex` taken after it; no lock is held across an
//! `.await`.

pub mod adapter;
mod client;
mod config;
mod config_setters;
mod endpoint;
mod error;
mod extensions;
mod meters;
mod payload;
pub mod relay;
mod server;
pub mod transport;

pub use quicket_proto::{
    DisconnectReason, PROTOCOL_VERSION, PayloadCodec, PayloadError, RejectReason, SocketId,
};

pub use crate::adapter::{Adapter, LocalAdapter, Room};
pub use crate::client::{
    Client, ClientBuilder, PresenceCounts, PresenceEvent, PresenceSnapshot, PresenceWatch,
    ReconnectEvent,
};
pub use crate::config::{
    ClientConfig, ConnectionLimits, PresenceLimits, RateExceeded, RateLimit, ReconnectConfig,
    RecoveryConfig, ReplayLimits, ServerConfig,
};
pub use crate::endpoint::classes::Delivery;
pub use crate::endpoint::handler::{
    Data, EventContext, EventName, ExtractError, FromEvent, Handler,
};
pub use crate::endpoint::{AckSender, Classed, EmitWithAck};
pub use crate::error::{AckError, ConnectError, EmitError, JoinError, PresenceError, with_causes};
pub use crate::extensions::Extensions;
pub use crate::meters::describe_metrics;
pub use crate::payload::{Binary, FromPayload, IntoPayload, Raw};
pub use crate::server::{
    AckReplies, BroadcastOperator, BroadcastWithAck, Eviction, Handshake, Rejection, ResumeFailure,
    Server, ServerBuilder, Socket, SocketPresence, State,
};
pub use crate::transport::{PathStats, TransportKind};
