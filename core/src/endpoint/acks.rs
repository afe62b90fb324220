//! Acknowledgements this side awaits from its peer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use quicket_proto::SocketId;
use tokio::sync::{mpsc, oneshot};

use crate::error::AckError;

/// The peer's answer: its reply payload, or why there is none.
pub(crate) type AckReply = Result<Bytes, AckError>;

/// Who is waiting for an ack id.
#[derive(Debug)]
pub(crate) enum Waiter {
    /// A single `emit_with_ack`.
    One(oneshot::Sender<AckReply>),
    /// One socket's share of a broadcast with acks; the collector knows the codec per socket.
    Many(SocketId, mpsc::Sender<(SocketId, AckReply)>),
}

/// Why an ack id could not be handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegisterError {
    TooMany,
    Closed,
}

#[derive(Debug)]
pub(crate) struct AckTable {
    state: Mutex<State>,
    max_pending: usize,
}

#[derive(Debug, Default)]
struct State {
    pending: HashMap<u64, Waiter>,
    closed: bool,
}

/// Ack ids come from one process-wide counter, so a broadcast can use the same id on every
/// connection and share one encoded frame among them.
static NEXT_ACK_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh ack id, unused on every connection of this process.
pub(crate) fn next_ack_id() -> u64 {
    NEXT_ACK_ID.fetch_add(1, Ordering::Relaxed)
}

impl AckTable {
    pub(crate) fn new(max_pending: usize) -> Self {
        Self {
            state: Mutex::default(),
            max_pending,
        }
    }

    /// Hands out an ack id for `waiter`.
    pub(crate) fn register(&self, waiter: Waiter) -> Result<u64, RegisterError> {
        let id = next_ack_id();
        self.register_as(id, waiter).map(|()| id)
    }

    /// Registers a waiter under an id from [`next_ack_id`].
    pub(crate) fn register_as(&self, id: u64, waiter: Waiter) -> Result<(), RegisterError> {
        let mut state = self.lock();
        if state.closed {
            return Err(RegisterError::Closed);
        }
        if state.pending.len() >= self.max_pending {
            return Err(RegisterError::TooMany);
        }
        state.pending.insert(id, waiter);
        Ok(())
    }

    /// Delivers the peer's reply; replies for unknown or expired ids are ignored.
    pub(crate) fn resolve(&self, id: u64, reply: AckReply) {
        let waiter = self.lock().pending.remove(&id);
        match waiter {
            Some(Waiter::One(tx)) => {
                let _receiver_gone = tx.send(reply);
            }
            Some(Waiter::Many(sid, tx)) => {
                // The collector sized the channel for every recipient, so this never waits.
                let _collector_gone = tx.try_send((sid, reply));
            }
            None => tracing::debug!(id, "ack for an unknown or expired id"),
        }
    }

    /// Forgets an id whose emitter gave up waiting.
    pub(crate) fn cancel(&self, id: u64) {
        self.lock().pending.remove(&id);
    }

    /// Refuses new ids and tells every waiter that the connection is gone.
    pub(crate) fn close(&self) {
        let pending = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.pending)
        };
        for waiter in pending.into_values() {
            match waiter {
                // A dropped sender reads as a disconnect on the other side.
                Waiter::One(tx) => drop(tx),
                Waiter::Many(sid, tx) => {
                    let _collector_gone = tx.try_send((sid, Err(AckError::Disconnected)));
                }
            }
        }
    }

    /// Hands out ids again, on a resumed session's new connection.
    pub(crate) fn reopen(&self) {
        self.lock().closed = false;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Each critical section is a single map operation; a poisoned lock holds a valid map.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
