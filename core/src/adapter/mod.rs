//! The adapter seam: rooms, broadcast and presence, behind a trait.
//!
//! [`LocalAdapter`] keeps everything in this process and is the default. A multi-node adapter
//! (Redis) implements the same trait, delegating local delivery to a `LocalAdapter` and
//! publishing to its peers. Fire-and-forget operations are synchronous, so emits never wait
//! on the network; queries that may need other nodes return futures.

mod collect;
mod local;
mod presence;
mod room;

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use quicket_proto::{PayloadCodec, PayloadError, SocketId, codec};

pub use self::local::LocalAdapter;
pub use self::presence::{EncodedPayload, PresenceKey, StoredMeta};
pub use self::room::Room;
use crate::error::{AckError, JoinError, PresenceError};
use crate::payload::IntoPayload;
use crate::server::Socket;

/// A boxed future, as adapter queries return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which sockets a broadcast reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastTarget {
    /// Sockets in any of these rooms; every socket when empty.
    pub rooms: Vec<Room>,
    /// Minus the sockets in any of these rooms.
    pub except_rooms: Vec<Room>,
    /// Minus these sockets.
    pub except_sockets: Vec<SocketId>,
    /// Only this node's sockets, in a cluster.
    pub local: bool,
}

/// An event on its way to many sockets, encoded at most once per codec.
pub struct OutgoingEvent<'a> {
    name: &'a str,
    payload: &'a dyn IntoPayload,
    volatile: bool,
    ack: Option<u64>,
    frames: [OnceLock<Result<Bytes, PayloadError>>; 2],
}

impl<'a> OutgoingEvent<'a> {
    /// An event named `name` carrying `payload`.
    pub fn new(name: &'a str, payload: &'a dyn IntoPayload, volatile: bool) -> Self {
        Self {
            name,
            payload,
            volatile,
            ack: None,
            frames: Default::default(),
        }
    }

    pub(crate) fn with_ack(mut self, id: u64) -> Self {
        self.ack = Some(id);
        self
    }

    /// The event's name.
    pub fn name(&self) -> &str {
        self.name
    }

    /// The ack id every recipient answers to, for a broadcast with acks.
    pub fn ack_id(&self) -> Option<u64> {
        self.ack
    }

    /// The first payload encoding error, if a codec in use could not encode the payload.
    pub fn encode_error(&self) -> Option<PayloadError> {
        self.frames
            .iter()
            .find_map(|cell| cell.get().and_then(|frame| frame.as_ref().err().cloned()))
    }

    /// Whether it may be dropped.
    pub fn is_volatile(&self) -> bool {
        self.volatile
    }

    /// The payload, encoded with `codec`: what a remote node needs to deliver it.
    pub fn payload(&self, codec: PayloadCodec) -> Result<Bytes, PayloadError> {
        self.payload.encode(codec)
    }

    /// The whole frame for sockets that use `codec`; encoded on first use, then shared.
    pub fn frame(&self, codec: PayloadCodec) -> Result<&Bytes, &PayloadError> {
        let index = usize::from(codec.id()).min(self.frames.len() - 1);
        self.frames[index]
            .get_or_init(|| {
                let payload = self.payload.encode(codec)?;
                Ok(codec::encode_event(self.name, self.ack, &payload))
            })
            .as_ref()
    }
}

/// One socket's answer to a broadcast with acks, before decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckOutcome {
    /// The socket.
    pub sid: SocketId,
    /// The codec its reply is encoded with.
    pub codec: PayloadCodec,
    /// Its reply.
    pub reply: Result<Bytes, AckError>,
}

/// Rooms, broadcast and presence for one server node.
pub trait Adapter: Send + Sync + 'static {
    /// A socket connected to this node.
    fn add_socket(&self, socket: Socket);

    /// A socket disconnected: it leaves every room, and its presence metas go.
    fn remove_socket(&self, sid: SocketId);

    /// A socket of this node by id.
    fn socket(&self, sid: SocketId) -> Option<Socket>;

    /// Adds a socket to a room; refuses past `max_rooms` rooms.
    fn join(&self, sid: SocketId, room: Room, max_rooms: usize) -> Result<(), JoinError>;

    /// Removes a socket from a room, with its presence there.
    fn leave(&self, sid: SocketId, room: &str);

    /// The rooms a socket is in.
    fn rooms_of(&self, sid: SocketId) -> Vec<Room>;

    /// Every room with at least one socket in it.
    fn rooms(&self) -> BoxFuture<'_, Vec<Room>>;

    /// The connected sockets a target names.
    fn sockets(&self, target: &BroadcastTarget) -> BoxFuture<'_, Vec<Socket>>;

    /// Delivers an event to every socket the target names; returns how many it reached.
    fn broadcast(&self, target: &BroadcastTarget, event: &OutgoingEvent<'_>) -> usize;

    /// Delivers an event asking every socket for an ack, and collects the replies until
    /// `timeout`; a socket that did not answer gets [`AckError::Timeout`].
    fn broadcast_with_ack(
        &self,
        target: &BroadcastTarget,
        event: &OutgoingEvent<'_>,
        timeout: Duration,
    ) -> BoxFuture<'static, Vec<AckOutcome>>;

    /// Tracks `key` for a socket in a room, or replaces that socket's meta for it.
    fn presence_track(
        &self,
        room: &str,
        key: &str,
        sid: SocketId,
        meta: EncodedPayload,
    ) -> Result<(), PresenceError>;

    /// Stops tracking `key` for a socket in a room.
    fn presence_untrack(&self, room: &str, key: &str, sid: SocketId);

    /// Removes a socket's presence in every room, publishing the leaves; the socket stays in
    /// its rooms. A dropped session's presence grace ends this way.
    fn presence_forget(&self, sid: SocketId);

    /// Sends the socket the room's presence state, then every diff.
    fn presence_subscribe(&self, room: &str, sid: SocketId) -> Result<(), PresenceError>;

    /// Stops a subscription; `notify` sends the socket a `PresenceEnd` (not wanted when the
    /// client asked: it knows, and may already be subscribing again).
    fn presence_unsubscribe(&self, room: &str, sid: SocketId, notify: bool);

    /// The room's presence, with metas in bincode.
    fn presence_list(&self, room: &str) -> BoxFuture<'_, Vec<PresenceKey>>;
}
