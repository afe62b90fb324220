//! Chainable broadcast operators: `server.to("a").except("b").timeout(d).emit_with_ack(..)`.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use quicket_proto::SocketId;

use super::{ServerShared, Socket};
use crate::adapter::{BroadcastTarget, OutgoingEvent, Room, SocketInfo, SocketsOp};
use crate::endpoint::acks::next_ack_id;
use crate::endpoint::classes::Delivery;
use crate::error::{AckError, EmitError};
use crate::payload::{FromPayload, IntoPayload};

/// Chooses which sockets an emit reaches and how.
#[derive(Clone)]
#[must_use = "an operator does nothing until an emit"]
pub struct BroadcastOperator {
    server: Arc<ServerShared>,
    target: BroadcastTarget,
    delivery: Delivery,
    timeout: Option<Duration>,
}

impl BroadcastOperator {
    pub(crate) fn new(server: Arc<ServerShared>, target: BroadcastTarget) -> Self {
        Self {
            server,
            target,
            delivery: Delivery::Ordered,
            timeout: None,
        }
    }

    /// Also targets the sockets in `room`. Without any room, every socket is targeted.
    pub fn to(mut self, room: impl Into<Room>) -> Self {
        self.target.rooms.push(room.into());
        self
    }

    /// Leaves out the sockets in `room`.
    pub fn except(mut self, room: impl Into<Room>) -> Self {
        self.target.except_rooms.push(room.into());
        self
    }

    /// Only this node's sockets, in a cluster.
    pub fn local(mut self) -> Self {
        self.target.local = true;
        self
    }

    /// Emits may be dropped for congested sockets, and travel as datagrams where they fit.
    pub fn volatile(self) -> Self {
        self.delivery(Delivery::Volatile)
    }

    /// Emits are reliable while each connection lives but keep no order: over WebTransport
    /// each goes on a stream of its own, so a lost packet holds back that event alone. A
    /// resume does not replay them.
    pub fn unordered(self) -> Self {
        self.delivery(Delivery::Unordered)
    }

    /// Emits may be dropped, and no socket handles one after a newer one of the same name:
    /// datagrams stamped with a sequence number (PROTOCOL.md section 2.3).
    pub fn sequenced(self) -> Self {
        self.delivery(Delivery::Sequenced)
    }

    /// Emits a value that only its newest matters for, per event name and `key`: over
    /// WebTransport each value goes on a stream of its own, which a newer value resets, so no
    /// socket waits for a stale value's retransmission; an older value is never handled after
    /// a newer one.
    pub fn latest(self, key: impl Into<String>) -> Self {
        self.delivery(Delivery::Latest(key.into()))
    }

    /// Emits with delivery class `delivery`.
    pub fn delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// How long [`BroadcastOperator::emit_with_ack`] waits for replies.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Emits to every targeted socket, encoding the payload once per codec in use; returns how
    /// many sockets it reached.
    pub fn emit(&self, event: &str, data: impl IntoPayload) -> Result<usize, EmitError> {
        self.check_name(event)?;
        let outgoing = OutgoingEvent::new(event, &data, false).with_delivery(self.delivery.clone());
        let reached = self.server.adapter.broadcast(&self.target, &outgoing);
        match outgoing.encode_error() {
            Some(err) => Err(err.into()),
            None => Ok(reached),
        }
    }

    /// Emits asking every targeted socket for an ack; `.await` it for every socket's reply,
    /// or its error once the timeout passes.
    pub fn emit_with_ack<R, P>(&self, event: &str, data: P) -> BroadcastWithAck<R, P>
    where
        P: IntoPayload + Send + 'static,
    {
        BroadcastWithAck {
            operator: self.clone(),
            event: event.to_owned(),
            data,
            _reply: PhantomData,
        }
    }

    /// The targeted sockets of this node, as handles.
    pub async fn sockets(&self) -> Vec<Socket> {
        let members = self.server.adapter.sockets(&self.target).await;
        members.iter().filter_map(Socket::of).collect()
    }

    /// The targeted sockets of every node (id, rooms, data); this node's alone without a
    /// cluster, or with [`BroadcastOperator::local`].
    pub async fn fetch_sockets(&self) -> Vec<SocketInfo> {
        self.server.adapter.fetch_sockets(&self.target).await
    }

    /// Makes every targeted socket, on every node, join `room`.
    pub async fn join(&self, room: impl Into<Room>) {
        self.apply(SocketsOp::Join(vec![room.into()])).await;
    }

    /// Makes every targeted socket, on every node, leave `room`.
    pub async fn leave(&self, room: &str) {
        self.apply(SocketsOp::Leave(vec![room.into()])).await;
    }

    /// Disconnects every targeted socket, on every node.
    pub async fn disconnect(&self) {
        self.apply(SocketsOp::Disconnect).await;
    }

    async fn apply(&self, op: SocketsOp) {
        self.server.adapter.sockets_op(&self.target, op).await;
    }

    fn check_name(&self, event: &str) -> Result<(), EmitError> {
        let max = self.server.config.limits.max_event_name_len;
        if event.len() > max {
            return Err(EmitError::EventNameTooLong {
                len: event.len(),
                max,
            });
        }
        Ok(())
    }
}

/// A broadcast awaiting every socket's acknowledgement.
#[must_use = "the event is only sent when this is awaited"]
pub struct BroadcastWithAck<R, P> {
    operator: BroadcastOperator,
    event: String,
    data: P,
    _reply: PhantomData<fn() -> R>,
}

impl<R, P> BroadcastWithAck<R, P> {
    /// How long to wait for replies.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.operator.timeout = Some(timeout);
        self
    }
}

/// Each targeted socket with its reply.
pub type AckReplies<R> = Vec<(SocketId, Result<R, AckError>)>;

impl<R, P> IntoFuture for BroadcastWithAck<R, P>
where
    R: FromPayload + Send + 'static,
    P: IntoPayload + Send + 'static,
{
    type Output = Result<AckReplies<R>, EmitError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        let operator = self.operator;
        let timeout = operator
            .timeout
            .unwrap_or(operator.server.config.default_ack_timeout);
        let sent = operator.check_name(&self.event).and_then(|()| {
            let outgoing =
                OutgoingEvent::new(&self.event, &self.data, false).with_ack(next_ack_id());
            let collect =
                operator
                    .server
                    .adapter
                    .broadcast_with_ack(&operator.target, &outgoing, timeout);
            match outgoing.encode_error() {
                Some(err) => Err(EmitError::from(err)),
                None => Ok(collect),
            }
        });
        Box::pin(async move {
            let outcomes = sent?.await;
            Ok(outcomes
                .into_iter()
                .map(|outcome| {
                    let reply = outcome.reply.and_then(|bytes| {
                        R::decode(bytes, outcome.codec).map_err(AckError::Payload)
                    });
                    (outcome.sid, reply)
                })
                .collect())
        })
    }
}
