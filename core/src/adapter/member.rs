//! A socket as the registry keeps it.

use std::any::Any;
use std::sync::Arc;

use quicket_proto::{PayloadCodec, SocketId};

use super::SocketsOp;
use crate::config::PresenceLimits;
use crate::endpoint::SessionCore;
use crate::payload::EncodedPayload;

/// One socket of this node as the adapter holds it: enough to deliver to it, describe it and
/// act on it. The server registers one per socket ([`Adapter::add_socket`](super::Adapter::add_socket));
/// [`Server::socket`](crate::Server::socket) turns it back into the socket. Cheap to clone.
#[derive(Clone)]
pub struct Member {
    id: SocketId,
    core: Arc<SessionCore>,
    owner: Arc<dyn Owner>,
}

/// What only a socket's server knows of it. The registry reaches it through here, so the
/// adapter names none of the server's types.
pub(crate) trait Owner: Send + Sync + 'static {
    /// Whether a connection serves the session.
    fn connected(&self) -> bool;
    /// What the application attached with `set_data`.
    fn data(&self) -> Option<EncodedPayload>;
    /// Joins, leaves or disconnects, through the server's adapter.
    fn apply(&self, op: &SocketsOp);
    /// Whether `room`'s presence subscribers get counts only.
    fn counts_only(&self, room: &str) -> bool;
    /// How much presence the socket may track.
    fn presence_limits(&self) -> PresenceLimits;
    /// The owner as its own type, for the server to hand the socket back out.
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl Member {
    pub(crate) fn new(id: SocketId, core: Arc<SessionCore>, owner: Arc<dyn Owner>) -> Self {
        Self { id, core, owner }
    }

    /// The socket's id.
    pub fn id(&self) -> SocketId {
        self.id
    }

    /// The payload codec its client chose.
    pub fn codec(&self) -> PayloadCodec {
        self.core.codec
    }

    /// How many reliable events the session has been sent, numbered as its client counts them
    /// for a resume; `None` when the server keeps no sessions for resuming.
    pub fn events_sent(&self) -> Option<u64> {
        self.core.events_sent()
    }

    /// How many reliable events the session has received from its client, numbered as the
    /// client counts them for a resume.
    pub fn events_received(&self) -> u64 {
        self.core.events_received()
    }

    /// Whether a connection serves the session: a socket whose disconnect handler is still
    /// running is in its rooms, but gone.
    pub fn connected(&self) -> bool {
        self.owner.connected()
    }

    /// What the application attached with `Socket::set_data`.
    pub fn data(&self) -> Option<EncodedPayload> {
        self.owner.data()
    }

    /// Applies `op` to the socket, through its server's adapter.
    pub fn apply(&self, op: &SocketsOp) {
        self.owner.apply(op);
    }

    pub(crate) fn core(&self) -> &SessionCore {
        &self.core
    }

    pub(crate) fn owner(&self) -> &Arc<dyn Owner> {
        &self.owner
    }
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
