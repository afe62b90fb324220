//! The three traits of the seam. Every method but [`Adapter::local`] and
//! [`PresenceAdapter::local_presence`] is provided, forwarding to this node's
//! [`LocalAdapter`], so an adapter writes only what it does differently.

use std::time::Duration;

use bytes::Bytes;
use quicket_proto::{PayloadCodec, SocketId};

use super::{
    AckOutcome, BoxFuture, BroadcastTarget, LocalAdapter, Member, OutgoingEvent, PresenceKey, Room,
    SocketInfo, SocketsOp, TrackedKey,
};
use crate::error::{JoinError, PresenceError};
use crate::payload::EncodedPayload;
use crate::relay::RelayLink;
use crate::transport::memory::MemoryListener;

/// Rooms and broadcast for one server node: this node's registry, and what fans out to the
/// other nodes of a cluster.
pub trait Adapter: Send + Sync + 'static {
    /// This node's sockets and rooms, which every provided method starts from.
    fn local(&self) -> &LocalAdapter;

    /// Presence; this node's, kept by [`local`](Adapter::local), unless overridden.
    fn presence(&self) -> &dyn PresenceAdapter {
        self.local()
    }

    /// Where sessions are held; a single node holds them all, so nothing to locate by default.
    fn sessions(&self) -> &dyn SessionLocator {
        self.local()
    }

    /// The connections other nodes relay to this one, for its server to serve: asked once,
    /// when the server is built. A cluster adapter that relays resumes to the node holding
    /// the session answers with an in-process listener; none by default.
    fn relayed(&self) -> Option<MemoryListener> {
        None
    }

    /// A socket connected to this node.
    fn add_socket(&self, member: Member) {
        self.local().add_socket(member);
    }

    /// A socket disconnected: it leaves every room, and its presence metas go.
    fn remove_socket(&self, sid: SocketId) {
        self.local().remove_socket(sid);
    }

    /// A socket of this node by id.
    fn member(&self, sid: SocketId) -> Option<Member> {
        self.local().member(sid)
    }

    /// Adds a socket to a room; refuses past `max_rooms` rooms.
    fn join(&self, sid: SocketId, room: Room, max_rooms: usize) -> Result<(), JoinError> {
        self.local().join(sid, room, max_rooms)
    }

    /// Removes a socket from a room, with its presence there.
    fn leave(&self, sid: SocketId, room: &str) {
        self.local().leave(sid, room);
    }

    /// The rooms a socket is in.
    fn rooms_of(&self, sid: SocketId) -> Vec<Room> {
        self.local().rooms_of(sid)
    }

    /// The connected sockets of this node a target names: a handle is only for a socket in
    /// this process; [`fetch_sockets`](Adapter::fetch_sockets) describes the whole cluster's.
    fn sockets(&self, target: &BroadcastTarget) -> BoxFuture<'_, Vec<Member>> {
        self.local().sockets(target)
    }

    /// Every room with at least one socket in it, on any node.
    fn rooms(&self) -> BoxFuture<'_, Vec<Room>> {
        self.local().rooms()
    }

    /// Whether a socket's own reliable emits (`socket.emit`) go through
    /// [`broadcast`](Adapter::broadcast), as a target naming that socket alone
    /// ([`BroadcastTarget::sockets`]), instead of straight to it: for an adapter that must
    /// order everything a socket receives itself. `false` by default.
    fn routes_socket_emits(&self) -> bool {
        false
    }

    /// Resolves once every emit routed for socket `sid` before the call has reached it
    /// (see [`routes_socket_emits`](Adapter::routes_socket_emits)), so that a graceful close
    /// writes them first. At once by default.
    fn socket_emits_settled(&self, _sid: SocketId) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }

    /// Delivers an event to every socket the target names; returns how many of this node's
    /// it reached.
    fn broadcast(&self, target: &BroadcastTarget, event: &OutgoingEvent<'_>) -> usize {
        self.local().broadcast(target, event)
    }

    /// Delivers an event asking every socket for an ack, and collects the replies until
    /// `timeout`; a socket that did not answer gets [`AckError::Timeout`](crate::AckError).
    fn broadcast_with_ack(
        &self,
        target: &BroadcastTarget,
        event: &OutgoingEvent<'_>,
        timeout: Duration,
    ) -> BoxFuture<'static, Vec<AckOutcome>> {
        self.local().broadcast_with_ack(target, event, timeout)
    }

    /// The targeted sockets described, from every node of a cluster.
    fn fetch_sockets(&self, target: &BroadcastTarget) -> BoxFuture<'_, Vec<SocketInfo>> {
        self.local().fetch_sockets(target)
    }

    /// Applies `op` to every targeted socket, on every node of a cluster; resolves once every
    /// node that answered has.
    fn sockets_op(&self, target: &BroadcastTarget, op: SocketsOp) -> BoxFuture<'_, ()> {
        self.local().sockets_op(target, op)
    }
}

/// Phoenix-style presence: keys with one meta per connection, and subscriptions to a room's
/// state and diffs. [`LocalAdapter`] keeps it in memory, and every provided method forwards
/// to it; a cluster adapter overrides what it keeps elsewhere (the Redis one mirrors this
/// node's rooms there, through [`LocalAdapter::clustered`], and overrides only `list`).
pub trait PresenceAdapter: Send + Sync {
    /// This node's presence, which every provided method forwards to.
    fn local_presence(&self) -> &LocalAdapter;

    /// Tracks `key` for a socket in a room, or replaces that socket's meta for it.
    fn track(
        &self,
        room: &str,
        key: &str,
        sid: SocketId,
        meta: EncodedPayload,
    ) -> Result<(), PresenceError> {
        self.local_presence().track(room, key, sid, meta)
    }

    /// Stops tracking `key` for a socket in a room.
    fn untrack(&self, room: &str, key: &str, sid: SocketId) {
        self.local_presence().untrack(room, key, sid);
    }

    /// Removes a socket's presence in every room, publishing the leaves; the socket stays in
    /// its rooms. A dropped session's presence grace ends this way, and the keys returned are
    /// tracked again if the session is resumed.
    fn forget(&self, sid: SocketId) -> Vec<TrackedKey> {
        self.local_presence().forget(sid)
    }

    /// Sends the socket the room's presence state, then every diff.
    fn subscribe(&self, room: &str, sid: SocketId) -> Result<(), PresenceError> {
        self.local_presence().subscribe(room, sid)
    }

    /// Stops a subscription; `notify` sends the socket a `PresenceEnd` (not wanted when the
    /// client asked: it knows, and may already be subscribing again).
    fn unsubscribe(&self, room: &str, sid: SocketId, notify: bool) {
        self.local_presence().unsubscribe(room, sid, notify);
    }

    /// The room's presence, with metas in every codec.
    fn list(&self, room: &str) -> BoxFuture<'_, Vec<PresenceKey>> {
        self.local_presence().list(room)
    }

    /// How many metas (connections) `key` has in the room, without copying the room.
    fn count<'a>(&'a self, room: &'a str, key: &'a str) -> BoxFuture<'a, usize> {
        self.local_presence().count(room, key)
    }
}

/// Which node holds a resumable session, for clusters: a client that comes back through
/// another node is relayed to the one holding its session. Every method does nothing by
/// default, as on a single node, where every session is here.
pub trait SessionLocator: Send + Sync {
    /// The session `sid`, which resume token `token` names, is held on this node, and
    /// resumable for `window` from now: record where, so another node can relay a resume
    /// here. Called for each token issued and again when a session's connection drops.
    fn held(&self, _token: &Bytes, _sid: SocketId, _window: Duration) {}

    /// Resume token `token` no longer names a session on this node.
    fn forgotten(&self, _token: &Bytes) {}

    /// A client resumes with a token no session on this node has: a link to the node that
    /// holds it, whose server will serve the connection, or `None` (a new session here).
    fn relay(&self, _token: &Bytes) -> BoxFuture<'_, Option<RelayLink>> {
        Box::pin(std::future::ready(None))
    }

    /// A client resumes with a token whose session no live node holds: the session as far
    /// as it can be recovered without its node (a cluster adapter that keeps a durable log
    /// of what each session was sent), for this node to carry on, or `None` (a new session).
    /// `offset` is how many of the session's reliable events the client handled; `codec` is
    /// the one it asks for now.
    fn adopt(
        &self,
        _token: &Bytes,
        _offset: u64,
        _codec: PayloadCodec,
    ) -> BoxFuture<'_, Option<Adoption>> {
        Box::pin(std::future::ready(None))
    }
}

/// A session whose node died, recovered by a cluster adapter
/// ([`SessionLocator::adopt`]) for this node to carry on: the same socket id, its rooms,
/// and every reliable event its client has not handled, in order. The server runs its
/// connect handler for the socket, which reports
/// [`Socket::recovered`](crate::Socket::recovered).
#[non_exhaustive]
pub struct Adoption {
    /// The session's socket id, which it keeps.
    pub id: SocketId,
    /// How many of the client's reliable events the dead node had handled, as it last
    /// recorded it: the client sends again those after it.
    pub received: u64,
    /// Registers the new socket with the adapter (as [`Adapter::add_socket`] does, which the
    /// server does not call for it), puts it in the session's rooms, and queues the events
    /// its client missed, in order.
    pub install: Box<dyn FnOnce(&Member) + Send>,
}

impl Adoption {
    /// An adoption of session `id`; see the fields.
    pub fn new(id: SocketId, received: u64, install: Box<dyn FnOnce(&Member) + Send>) -> Self {
        Self {
            id,
            received,
            install,
        }
    }
}

impl std::fmt::Debug for Adoption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adoption")
            .field("id", &self.id)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}
