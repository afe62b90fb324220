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
pub use self::presence::{PresenceChange, PresenceHook, PresenceKey, StoredMeta};
pub use self::room::Room;
use crate::error::{AckError, JoinError, PresenceError};
// Where adapters have always found it; it lives with the payload types.
pub use crate::payload::EncodedPayload;
use crate::payload::{FromPayload, IntoPayload};
use crate::peer::acks::next_ack_id;
use crate::relay::RelayLink;
use crate::server::{Server, Socket};

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
    frames: [OnceLock<Result<Bytes, PayloadError>>; PayloadCodec::COUNT],
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

    /// The same event asking each recipient for an ack, under an ack id fresh in this
    /// process: what a node needs to run a broadcast with acks that another node started.
    pub fn expecting_acks(self) -> Self {
        self.with_ack(next_ack_id())
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
        self.frames[codec.index()]
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

/// A socket as any node can describe it: what [`Adapter::fetch_sockets`] returns, cluster-wide.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketInfo {
    /// The socket's id.
    pub id: SocketId,
    /// The rooms it is in.
    pub rooms: Vec<Room>,
    /// The data the application attached with `Socket::set_data`.
    pub data: Option<EncodedPayload>,
}

impl SocketInfo {
    /// A description of a socket.
    pub fn new(id: SocketId, rooms: Vec<Room>, data: Option<EncodedPayload>) -> Self {
        Self { id, rooms, data }
    }

    /// Describes a socket of this node.
    pub fn of(socket: &Socket) -> Self {
        Self::new(socket.id(), socket.rooms(), socket.data_payload())
    }

    /// The socket's data decoded as `T`; `None` when it has none.
    pub fn data<T: FromPayload>(&self) -> Option<Result<T, PayloadError>> {
        let data = self.data.as_ref()?;
        Some(T::decode(
            data.get(PayloadCodec::Bincode).clone(),
            PayloadCodec::Bincode,
        ))
    }
}

/// What [`Adapter::sockets_op`] does to every targeted socket.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketsOp {
    /// Join these rooms.
    Join(Vec<Room>),
    /// Leave these rooms.
    Leave(Vec<Room>),
    /// Disconnect.
    Disconnect,
}

impl SocketsOp {
    /// Applies the operation to one socket of this node.
    pub fn apply(&self, socket: &Socket) {
        match self {
            Self::Join(rooms) => {
                for room in rooms {
                    if let Err(err) = socket.join(room.clone()) {
                        tracing::debug!(sid = %socket.id(), %err, "could not join");
                    }
                }
            }
            Self::Leave(rooms) => rooms.iter().for_each(|room| socket.leave(room)),
            Self::Disconnect => socket.disconnect(),
        }
    }
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

    /// How many metas (connections) `key` has in the room. By default from
    /// [`presence_list`](Adapter::presence_list); adapters override it to count without
    /// copying the room.
    fn presence_count<'a>(&'a self, room: &'a str, key: &'a str) -> BoxFuture<'a, usize> {
        Box::pin(async move {
            let list = self.presence_list(room).await;
            list.iter()
                .find(|k| k.key == key)
                .map_or(0, |k| k.metas.len())
        })
    }

    /// The targeted sockets described, from every node of a cluster. This node's alone by
    /// default.
    fn fetch_sockets(&self, target: &BroadcastTarget) -> BoxFuture<'_, Vec<SocketInfo>> {
        let sockets = self.sockets(target);
        Box::pin(async move { sockets.await.iter().map(SocketInfo::of).collect() })
    }

    /// Applies `op` to every targeted socket, on every node of a cluster; resolves once every
    /// node that answered has. This node's sockets alone by default.
    fn sockets_op(&self, target: &BroadcastTarget, op: SocketsOp) -> BoxFuture<'_, ()> {
        let sockets = self.sockets(target);
        Box::pin(async move { sockets.await.iter().for_each(|socket| op.apply(socket)) })
    }

    /// The server this adapter serves, once built. A cluster adapter that relays connections
    /// to this node serves them here (`server.listen` of an in-process listener).
    fn bind(&self, _server: &Server) {}

    /// The session that resume token `token` names is held on this node, and resumable for
    /// `window` from now: a cluster adapter records where, so another node can relay a
    /// resume here. Called for each token issued and again when a session's connection drops.
    fn session_held(&self, _token: &Bytes, _window: Duration) {}

    /// Resume token `token` no longer names a session on this node.
    fn session_forgotten(&self, _token: &Bytes) {}

    /// A client resumes with a token no session on this node has: a link to the node that
    /// holds it, whose server will serve the connection, or `None` (a new session here).
    fn relay_resume(&self, _token: &Bytes) -> BoxFuture<'_, Option<RelayLink>> {
        Box::pin(std::future::ready(None))
    }
}
