//! Collecting the replies to a broadcast with acks.

use std::collections::HashMap;
use std::time::Duration;

use quicket_proto::SocketId;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};

use super::member::Member;
use super::{AckOutcome, OutgoingEvent};
use crate::endpoint::acks::{AckReply, RegisterError, Waiter};
use crate::error::AckError;

/// The sockets a broadcast with acks still waits for. Dropping it, collected or not, frees
/// their ack ids, so a caller that gives up early leaks nothing.
pub(crate) struct AckCollector {
    id: u64,
    timeout: Duration,
    waiting: HashMap<SocketId, Member>,
    outcomes: Vec<AckOutcome>,
    replies: mpsc::Receiver<(SocketId, AckReply)>,
}

impl AckCollector {
    /// Sends `event` (which carries ack id `id`) to every recipient that can take it.
    pub(crate) fn send(
        id: u64,
        recipients: Vec<Member>,
        event: &OutgoingEvent<'_>,
        timeout: Duration,
    ) -> Self {
        let (tx, replies) = mpsc::channel(recipients.len().max(1));
        let mut collector = Self {
            id,
            timeout,
            waiting: HashMap::with_capacity(recipients.len()),
            outcomes: Vec::with_capacity(recipients.len()),
            replies,
        };
        for socket in recipients {
            let sid = socket.id();
            let sent = event
                .frame(socket.codec())
                .map_err(|err| AckError::Payload(err.clone()))
                .and_then(|frame| {
                    let core = socket.core();
                    core.acks
                        .register_as(id, Waiter::Many(sid, tx.clone()))
                        .map_err(|err| match err {
                            RegisterError::TooMany => AckError::TooManyPending,
                            RegisterError::Closed => AckError::Disconnected,
                        })?;
                    core.send_with_ack(frame.clone()).map_err(|err| {
                        core.acks.cancel(id);
                        AckError::Emit(err)
                    })
                });
            match sent {
                Ok(()) => {
                    collector.waiting.insert(sid, socket);
                }
                Err(err) => collector.outcomes.push(AckOutcome {
                    sid,
                    codec: socket.codec(),
                    reply: Err(err),
                }),
            }
        }
        collector
    }

    /// Waits for every reply, or the timeout; the sockets that did not answer get
    /// [`AckError::Timeout`].
    pub(crate) async fn collect(mut self) -> Vec<AckOutcome> {
        let deadline = Instant::now().checked_add(self.timeout);
        while !self.waiting.is_empty() {
            let reply = match deadline {
                Some(deadline) => timeout_at(deadline, self.replies.recv())
                    .await
                    .ok()
                    .flatten(),
                None => self.replies.recv().await,
            };
            let Some((sid, reply)) = reply else { break };
            if let Some(socket) = self.waiting.remove(&sid) {
                self.outcomes.push(AckOutcome {
                    sid,
                    codec: socket.codec(),
                    reply,
                });
            }
        }
        let id = self.id;
        let timeout = self.timeout;
        for (sid, socket) in self.waiting.drain() {
            socket.core().acks.cancel(id);
            let err = if socket.connected() {
                socket.core().meters.ack_timeouts.increment(1);
                AckError::Timeout(timeout)
            } else {
                AckError::Disconnected
            };
            self.outcomes.push(AckOutcome {
                sid,
                codec: socket.codec(),
                reply: Err(err),
            });
        }
        std::mem::take(&mut self.outcomes)
    }
}

impl Drop for AckCollector {
    fn drop(&mut self) {
        for socket in self.waiting.values() {
            socket.core().acks.cancel(self.id);
        }
    }
}
