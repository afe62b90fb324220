//! The adapter seam, cluster-wide: what concerns this node's sockets goes to the local
//! adapter; what concerns every node goes through Redis as well.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use quicket_core::adapter::{
    AckOutcome, BoxFuture, BroadcastTarget, EncodedPayload, OutgoingEvent, PresenceKey, SocketInfo,
    SocketsOp,
};
use quicket_core::relay::RelayLink;
use quicket_core::{Adapter, JoinError, PresenceError, Room, Server, Socket, SocketId};
use tokio::time::Instant;

use crate::bus::Outgoing;
use crate::node::RedisAdapter;
use crate::relay;
use crate::wire::{Answer, Ask, Broadcast, Envelope, Event, Op, Target, kind, millis};

impl Adapter for RedisAdapter {
    fn add_socket(&self, socket: Socket) {
        self.inner.local.add_socket(socket);
    }

    fn remove_socket(&self, sid: SocketId) {
        self.inner.local.remove_socket(sid);
    }

    fn socket(&self, sid: SocketId) -> Option<Socket> {
        self.inner.local.socket(sid)
    }

    fn join(&self, sid: SocketId, room: Room, max_rooms: usize) -> Result<(), JoinError> {
        self.inner.local.join(sid, room, max_rooms)
    }

    fn leave(&self, sid: SocketId, room: &str) {
        self.inner.local.leave(sid, room);
    }

    fn rooms_of(&self, sid: SocketId) -> Vec<Room> {
        self.inner.local.rooms_of(sid)
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

    /// This node's sockets: a handle is only for a socket in this process. Use
    /// `fetch_sockets` for the whole cluster.
    fn sockets(&self, target: &BroadcastTarget) -> BoxFuture<'_, Vec<Socket>> {
        self.inner.local.sockets(target)
    }

    /// Delivers to this node's sockets and publishes once for every other node; returns how
    /// many of this node's sockets it reached.
    fn broadcast(&self, target: &BroadcastTarget, event: &OutgoingEvent<'_>) -> usize {
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
                Ok(envelope) => self.inner.bus.to_everyone(&envelope, true),
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

    fn presence_track(
        &self,
        room: &str,
        key: &str,
        sid: SocketId,
        meta: EncodedPayload,
    ) -> Result<(), PresenceError> {
        self.inner.local.presence_track(room, key, sid, meta)
    }

    fn presence_untrack(&self, room: &str, key: &str, sid: SocketId) {
        self.inner.local.presence_untrack(room, key, sid);
    }

    fn presence_forget(&self, sid: SocketId) {
        self.inner.local.presence_forget(sid);
    }

    fn presence_subscribe(&self, room: &str, sid: SocketId) -> Result<(), PresenceError> {
        self.inner.local.presence_subscribe(room, sid)
    }

    fn presence_unsubscribe(&self, room: &str, sid: SocketId, notify: bool) {
        self.inner.local.presence_unsubscribe(room, sid, notify);
    }

    /// The cluster's presence of the room: this node mirrors every node's metas.
    fn presence_list(&self, room: &str) -> BoxFuture<'_, Vec<PresenceKey>> {
        self.inner.local.presence_list(room)
    }

    fn presence_count<'a>(&'a self, room: &'a str, key: &'a str) -> BoxFuture<'a, usize> {
        self.inner.local.presence_count(room, key)
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

    fn bind(&self, server: &Server) {
        self.inner.relays.bind(server);
    }

    fn session_held(&self, token: &Bytes, window: Duration) {
        self.inner.bus.session(Outgoing::SessionHeld {
            key: relay::session_key(&self.inner, token),
            ttl_ms: millis(window).max(1),
        });
    }

    fn session_forgotten(&self, token: &Bytes) {
        self.inner.bus.session(Outgoing::SessionGone {
            key: relay::session_key(&self.inner, token),
        });
    }

    fn relay_resume(&self, token: &Bytes) -> BoxFuture<'_, Option<RelayLink>> {
        let token = token.clone();
        Box::pin(async move { relay::open(&self.inner, &token).await })
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
            if let Some((pending, nodes)) = remote {
                pending.collect(nodes, deadline).await;
            }
        })
    }
}
