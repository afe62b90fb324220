//! The adapter seam, cluster-wide: the registry and presence are the local adapter's (which
//! mirrors every node's presence through its hook); what concerns every node goes through
//! Redis as well, and so does where each session is held.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use quicket_core::adapter::{
    AckOutcome, Adoption, BoxFuture, BroadcastTarget, Member, OutgoingEvent, PresenceAdapter,
    PresenceKey, SessionLocator, SocketInfo, SocketsOp,
};
use quicket_core::relay::RelayLink;
use quicket_core::transport::memory::MemoryListener;
use quicket_core::{Adapter, JoinError, LocalAdapter, PayloadCodec, Room, SocketId};
use tokio::time::Instant;

use crate::bus::Outgoing;
use crate::durable;
use crate::node::RedisAdapter;
use crate::relay;
use crate::wire::{Answer, Ask, Broadcast, Envelope, Event, Op, Target, kind, millis};

impl Adapter for RedisAdapter {
    fn local(&self) -> &LocalAdapter {
        &self.inner.local
    }

    fn sessions(&self) -> &dyn SessionLocator {
        self
    }

    fn presence(&self) -> &dyn PresenceAdapter {
        self
    }

    fn relayed(&self) -> Option<MemoryListener> {
        self.inner.relays.listener()
    }

    fn add_socket(&self, member: Member) {
        match &self.inner.durable {
            Some(durable) => durable.add(&self.inner, member),
            None => self.inner.local.add_socket(member),
        }
    }

    fn remove_socket(&self, sid: SocketId) {
        let rooms = self.inner.local.rooms_of(sid);
        match &self.inner.durable {
            Some(durable) => durable.remove(&self.inner, sid),
            None => self.inner.local.remove_socket(sid),
        }
        for room in rooms {
            self.inner.interest.mark(room.as_str());
        }
    }

    fn join(&self, sid: SocketId, room: Room, max_rooms: usize) -> Result<(), JoinError> {
        let mark = room.clone();
        match &self.inner.durable {
            Some(durable) => durable.join(&self.inner, sid, room, max_rooms)?,
            None => self.inner.local.join(sid, room, max_rooms)?,
        }
        self.inner.interest.mark(mark.as_str());
        Ok(())
    }

    fn leave(&self, sid: SocketId, room: &str) {
        match &self.inner.durable {
            Some(durable) => durable.leave(&self.inner, sid, room),
            None => self.inner.local.leave(sid, room),
        }
        self.inner.interest.mark(room);
    }

    fn routes_socket_emits(&self) -> bool {
        self.inner.durable.is_some()
    }

    fn socket_emits_settled(&self, _sid: SocketId) -> BoxFuture<'static, ()> {
        match &self.inner.durable {
            Some(durable) => durable.settled(),
            None => Box::pin(std::future::ready(())),
        }
    }

    fn rooms(&self) -> BoxFuture<'_, Vec<Room>> {
        let (pending, nodes) = self.inner.ask(Ask::Rooms);
        let deadline = Instant::now() + self.inner.config.request_timeout;
        Box::pin(async move {
            let mut rooms: BTreeSet<Room> = self.inner.local.rooms().await.into_iter().collect();
            for answer in pending.collect(nodes, deadline).await {
                if let Answer::Rooms(names) = answer {
                    rooms.extend(names.into_iter().map(Room::from));
                }
            }
            rooms.into_iter().collect()
        })
    }

    /// Delivers to this node's sockets and publishes once for every other node; returns how
    /// many of this node's sockets it reached.
    fn broadcast(&self, target: &BroadcastTarget, event: &OutgoingEvent<'_>) -> usize {
        if let Some(durable) = self
            .inner
            .durable
            .as_ref()
            .filter(|_| event.delivery().is_reliable())
        {
            return durable::publish(&self.inner, durable, target, event);
        }
        let reached = self.inner.local.broadcast(target, event);
        if !target.local {
            let message = Event::of(event).and_then(|event| {
                let broadcast = Broadcast {
                    target: Target::from(target),
                    event,
                };
                Envelope::new(kind::BROADCAST, self.inner.node, &broadcast)
            });
            match message {
                Ok(envelope) => match target.rooms.as_slice() {
                    [room] => self.inner.bus.to_room(room.as_str(), &envelope),
                    _ => self.inner.bus.to_everyone(&envelope, true),
                },
                // The local delivery failed the same way; the emit reports it.
                Err(err) => tracing::debug!(%err, "a broadcast did not encode for the cluster"),
            }
        }
        reached
    }

    fn broadcast_with_ack(
        &self,
        target: &BroadcastTarget,
        event: &OutgoingEvent<'_>,
        timeout: Duration,
    ) -> BoxFuture<'static, Vec<AckOutcome>> {
        let local = self.inner.local.broadcast_with_ack(target, event, timeout);
        let remote = match (target.local, Event::of(event)) {
            (false, Ok(wire_event)) => Some(self.inner.ask(Ask::Acks {
                target: Target::from(target),
                event: wire_event,
                timeout_ms: millis(timeout),
            })),
            _ => None,
        };
        let deadline = Instant::now() + timeout + self.inner.config.ack_grace;
        Box::pin(async move {
            let remote = async move {
                match remote {
                    Some((pending, nodes)) => pending.collect(nodes, deadline).await,
                    None => Vec::new(),
                }
            };
            let (mut outcomes, answers) = tokio::join!(local, remote);
            for answer in answers {
                if let Answer::Acks(theirs) = answer {
                    outcomes.extend(theirs.into_iter().map(crate::wire::Outcome::into_outcome));
                }
            }
            outcomes
        })
    }

    fn fetch_sockets(&self, target: &BroadcastTarget) -> BoxFuture<'_, Vec<SocketInfo>> {
        let remote = (!target.local).then(|| {
            self.inner.ask(Ask::Sockets {
                target: Target::from(target),
            })
        });
        let deadline = Instant::now() + self.inner.config.request_timeout;
        let local = self.inner.local.fetch_sockets(target);
        Box::pin(async move {
            let mut sockets = local.await;
            if let Some((pending, nodes)) = remote {
                for answer in pending.collect(nodes, deadline).await {
                    if let Answer::Sockets(theirs) = answer {
                        sockets.extend(theirs.into_iter().map(crate::wire::Socket::into_info));
                    }
                }
            }
            sockets
        })
    }

    fn sockets_op(&self, target: &BroadcastTarget, op: SocketsOp) -> BoxFuture<'_, ()> {
        let remote = match (target.local, Op::of(&op)) {
            (false, Some(wire_op)) => Some(self.inner.ask(Ask::Apply {
                target: Target::from(target),
                op: wire_op,
            })),
            _ => None,
        };
        let deadline = Instant::now() + self.inner.config.request_timeout;
        let local = self.inner.local.sockets_op(target, op);
        Box::pin(async move {
            local.await;
            self.inner.interest.settled().await;
            if let Some((pending, nodes)) = remote {
                pending.collect(nodes, deadline).await;
            }
        })
    }
}

/// Each session's node is recorded in Redis under its resume token, so any node can relay a
/// resume to the holder.
impl SessionLocator for RedisAdapter {
    fn held(&self, token: &Bytes, sid: SocketId, window: Duration) {
        self.inner.bus.session(Outgoing::SessionHeld {
            key: relay::session_key(&self.inner, token),
            sid,
            ttl_ms: millis(window).max(1),
        });
        if let Some(durable) = &self.inner.durable {
            durable.held(sid, token, window);
        }
    }

    fn forgotten(&self, token: &Bytes) {
        self.inner.bus.session(Outgoing::SessionGone {
            key: relay::session_key(&self.inner, token),
        });
    }

    fn relay(&self, token: &Bytes) -> BoxFuture<'_, Option<RelayLink>> {
        let token = token.clone();
        Box::pin(async move { relay::open(&self.inner, &token).await })
    }

    fn adopt(
        &self,
        token: &Bytes,
        offset: u64,
        codec: PayloadCodec,
    ) -> BoxFuture<'_, Option<Adoption>> {
        let token = token.clone();
        Box::pin(async move { durable::adopt(&self.inner, &token, offset, codec).await })
    }
}

/// Presence is the local adapter's mirror, of the rooms this node has members in; the others
/// are read from Redis.
impl PresenceAdapter for RedisAdapter {
    fn local_presence(&self) -> &LocalAdapter {
        &self.inner.local
    }

    fn list(&self, room: &str) -> BoxFuture<'_, Vec<PresenceKey>> {
        if self.inner.local.has_room(room) {
            return self.inner.local.list(room);
        }
        let room = room.to_owned();
        Box::pin(async move { crate::presence::read(&self.inner, &room).await })
    }
}
