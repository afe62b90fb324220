//! The adapter seam: rooms, broadcast, presence and session location, behind traits.
//!
//! The seam is three jobs, one trait each:
//!
//! - [`Adapter`]: this node's registry of sockets and rooms (`add_socket`, `join`, `sockets`,
//!   ...) and the cluster fan-out (`rooms`, `broadcast`, `broadcast_with_ack`,
//!   `fetch_sockets`, `sockets_op`). Its one required method is [`Adapter::local`], this
//!   node's [`LocalAdapter`]; every other method is provided and forwards to it, so the
//!   registry is written once, and a cluster adapter overrides only what also goes to the
//!   other nodes, calling the local one for this node's share.
//! - [`PresenceAdapter`], reached through [`Adapter::presence`]: tracked keys and their
//!   subscribers. By default the local adapter's, which a cluster adapter can mirror across
//!   nodes with [`LocalAdapter::clustered`].
//! - [`SessionLocator`], reached through [`Adapter::sessions`]: which node holds a resumable
//!   session, so that a resume reaching another node is relayed there. Nothing by default.
//!
//! [`LocalAdapter`] keeps everything in this process and is the default: it implements the
//! three traits with `local()` returning itself. Fire-and-forget operations are synchronous,
//! so emits never wait on the network; queries that may need other nodes return futures.
//!
//! The registry keeps each socket as a [`Member`]: its session, to deliver to, and a link to
//! what only its server knows (whether it is connected, its data, how it joins through the
//! server's adapter). So this module names nothing of the server, which builds on it.

mod collect;
mod event;
mod local;
pub(crate) mod member;
mod presence;
mod presence_batch;
mod presence_state;
mod room;
mod seam;
mod sockets;

use std::future::Future;
use std::pin::Pin;

use quicket_proto::SocketId;

pub use self::event::{AckOutcome, OutgoingEvent};
pub use self::local::LocalAdapter;
pub use self::member::Member;
pub use self::presence::{PresenceChange, PresenceHook, PresenceKey, StoredMeta, TrackedKey};
pub use self::room::Room;
pub use self::seam::{Adapter, Adoption, PresenceAdapter, SessionLocator};
pub use self::sockets::{SocketInfo, SocketsOp};
// Where adapters have always found it; it lives with the payload types.
pub use crate::payload::EncodedPayload;

/// A boxed future, as adapter queries return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which sockets a broadcast reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastTarget {
    /// Sockets in any of these rooms; every socket when both this and `sockets` are empty.
    pub rooms: Vec<Room>,
    /// These sockets, besides those in `rooms`: a socket's own emits go through the adapter
    /// this way when [`Adapter::routes_socket_emits`] says so.
    pub sockets: Vec<SocketId>,
    /// Minus the sockets in any of these rooms.
    pub except_rooms: Vec<Room>,
    /// Minus these sockets.
    pub except_sockets: Vec<SocketId>,
    /// Only this node's sockets, in a cluster.
    pub local: bool,
}

impl BroadcastTarget {
    /// Whether the target reaches socket `sid`, given whether it is in a room
    /// (`in_room`): what a node that replays a dead node's broadcasts asks of each one.
    pub fn includes(&self, sid: SocketId, in_room: impl Fn(&str) -> bool) -> bool {
        let named = if self.rooms.is_empty() && self.sockets.is_empty() {
            true
        } else {
            self.sockets.contains(&sid) || self.rooms.iter().any(|room| in_room(room.as_str()))
        };
        named && !self.excludes(sid, in_room)
    }

    /// Whether the target leaves out socket `sid`, given whether it is in a room.
    pub(crate) fn excludes(&self, sid: SocketId, in_room: impl Fn(&str) -> bool) -> bool {
        self.except_sockets.contains(&sid)
            || self.except_rooms.iter().any(|room| in_room(room.as_str()))
    }
}
