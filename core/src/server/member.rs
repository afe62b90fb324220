//! A socket as its server registers it with the adapter.

use std::any::Any;
use std::sync::Arc;

use super::Socket;
use crate::adapter::member::Owner;
use crate::adapter::{Member, SocketsOp};
use crate::config::PresenceLimits;
use crate::payload::EncodedPayload;

impl Socket {
    /// The socket as the adapter's registry keeps it.
    pub(crate) fn member(&self) -> Member {
        Member::new(self.id(), Arc::clone(self.core()), Arc::new(self.clone()))
    }

    /// The socket a member of the registry stands for.
    pub(crate) fn of(member: &Member) -> Option<Self> {
        let owner = Arc::clone(member.owner()).into_any();
        owner
            .downcast::<Self>()
            .ok()
            .map(|socket| Self::clone(&socket))
    }
}

impl Owner for Socket {
    fn connected(&self) -> bool {
        Self::connected(self)
    }

    fn data(&self) -> Option<EncodedPayload> {
        self.data_payload()
    }

    fn apply(&self, op: &SocketsOp) {
        match op {
            SocketsOp::Join(rooms) => {
                for room in rooms {
                    if let Err(err) = self.join(room.clone()) {
                        tracing::debug!(sid = %self.id(), %err, "could not join");
                    }
                }
            }
            SocketsOp::Leave(rooms) => rooms.iter().for_each(|room| self.leave(room)),
            SocketsOp::Disconnect => self.disconnect(),
        }
    }

    fn counts_only(&self, room: &str) -> bool {
        self.server().counts_only(room)
    }

    fn presence_limits(&self) -> PresenceLimits {
        self.server().config.presence
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}
