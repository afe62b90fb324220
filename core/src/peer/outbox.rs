//! The bounded outbound queue of one connection.
//!
//! Every emit to a connection, from any task, lands here without waiting; the connection's
//! driver drains it into the transport. Reliable frames overflow into a `SlowConsumer` close of
//! this connection alone, so a stalled reader never stalls its room. Volatile frames are
//! refused once the queue is half full, so they are always dropped before reliable ones.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use quicket_proto::DisconnectReason;
use tokio::sync::Notify;

/// How and why a connection is closing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Close {
    pub(crate) reason: DisconnectReason,
    pub(crate) message: String,
    /// Send a `Disconnect` frame before closing the transport.
    pub(crate) notify_peer: bool,
    /// Write what is queued before closing.
    pub(crate) flush: bool,
}

impl Close {
    /// A close we decide on and tell the peer about, dropping what is queued.
    pub(crate) fn now(reason: DisconnectReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            notify_peer: true,
            flush: false,
        }
    }

    /// A close that first writes what is queued.
    pub(crate) fn graceful(reason: DisconnectReason) -> Self {
        Self {
            reason,
            message: String::new(),
            notify_peer: true,
            flush: true,
        }
    }

    /// The peer is gone or has said goodbye: nothing more to write.
    pub(crate) fn silent(reason: DisconnectReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            notify_peer: false,
            flush: false,
        }
    }
}

/// Why a reliable frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The connection is closing.
    Closed,
    /// The queue was full: the connection is now closing as a slow consumer.
    Overflow,
}

/// What the driver takes off the queue next.
#[derive(Debug)]
pub(crate) enum Next {
    Frame(Bytes),
    Closed(Close),
}

#[derive(Debug)]
pub(crate) struct Outbox {
    state: Mutex<State>,
    ready: Notify,
    closing: Notify,
    max_frames: usize,
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Bytes>,
    bytes: usize,
    close: Option<Close>,
}

impl Outbox {
    pub(crate) fn new(max_frames: usize, max_bytes: usize) -> Self {
        Self {
            state: Mutex::default(),
            ready: Notify::new(),
            closing: Notify::new(),
            max_frames: max_frames.max(2),
            max_bytes: max_bytes.max(2),
        }
    }

    /// Queues a reliable frame, or closes the connection as a slow consumer when it cannot.
    pub(crate) fn push(&self, frame: Bytes) -> Result<(), PushError> {
        let mut state = self.lock();
        if state.close.is_some() {
            return Err(PushError::Closed);
        }
        if state.frames.len() >= self.max_frames || state.bytes + frame.len() > self.max_bytes {
            let message = format!(
                "outbound queue full ({} frames, {} bytes)",
                state.frames.len(),
                state.bytes
            );
            state.start_close(Close::now(DisconnectReason::SlowConsumer, message));
            drop(state);
            self.wake_all();
            return Err(PushError::Overflow);
        }
        self.enqueue(state, frame);
        Ok(())
    }

    /// Queues a volatile frame if the queue is less than half full; returns whether it did.
    pub(crate) fn push_volatile(&self, frame: Bytes) -> bool {
        let state = self.lock();
        if state.close.is_some()
            || state.frames.len() >= self.max_frames / 2
            || state.bytes + frame.len() > self.max_bytes / 2
        {
            return false;
        }
        self.enqueue(state, frame);
        true
    }

    fn enqueue(&self, mut state: MutexGuard<'_, State>, frame: Bytes) {
        let was_empty = state.frames.is_empty();
        state.bytes += frame.len();
        state.frames.push_back(frame);
        drop(state);
        // The driver re-checks the queue under the lock before it sleeps, so it only needs a
        // wake-up when the queue stops being empty: one per burst, not one per frame.
        if was_empty {
            self.ready.notify_one();
        }
    }

    /// Starts closing; the first close wins.
    pub(crate) fn close(&self, close: Close) {
        let mut state = self.lock();
        if state.close.is_none() {
            state.start_close(close);
        }
        drop(state);
        self.wake_all();
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.lock().close.is_some()
    }

    /// The close under way, if any, without taking a frame off the queue.
    pub(crate) fn close_state(&self) -> Option<Close> {
        self.lock().close.clone()
    }

    /// The next frame to write, or the close once the queue is drained (or dropped).
    pub(crate) fn try_next(&self) -> Option<Next> {
        let mut state = self.lock();
        if let Some(frame) = state.frames.pop_front() {
            state.bytes -= frame.len();
            return Some(Next::Frame(frame));
        }
        state.close.clone().map(Next::Closed)
    }

    /// Waits until [`Outbox::try_next`] has something.
    pub(crate) async fn ready(&self) {
        loop {
            let notified = self.ready.notified();
            {
                let state = self.lock();
                if !state.frames.is_empty() || state.close.is_some() {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Resolves once a close has started.
    pub(crate) async fn closing(&self) {
        loop {
            let notified = self.closing.notified();
            if self.is_closing() {
                return;
            }
            notified.await;
        }
    }

    fn wake_all(&self) {
        self.ready.notify_one();
        self.closing.notify_waiters();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue inconsistent: every critical
        // section updates `frames` and `bytes` together after its last fallible step.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn start_close(&mut self, close: Close) {
        if !close.flush {
            self.frames.clear();
            self.bytes = 0;
        }
        self.close = Some(close);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: usize) -> Bytes {
        Bytes::from(vec![0u8; len])
    }

    #[test]
    fn volatile_frames_are_refused_before_reliable_ones_overflow() {
        let outbox = Outbox::new(4, 1 << 20);
        assert!(outbox.push_volatile(frame(1)));
        assert!(outbox.push_volatile(frame(1)));
        assert!(
            !outbox.push_volatile(frame(1)),
            "half full: volatile dropped"
        );
        assert_eq!(outbox.push(frame(1)), Ok(()));
        assert_eq!(outbox.push(frame(1)), Ok(()));
        assert!(!outbox.is_closing());
        assert_eq!(outbox.push(frame(1)), Err(PushError::Overflow));
        match outbox.try_next() {
            Some(Next::Closed(close)) => assert_eq!(close.reason, DisconnectReason::SlowConsumer),
            other => panic!("expected the slow-consumer close, got {other:?}"),
        }
    }

    #[test]
    fn byte_budget_overflows_too() {
        let outbox = Outbox::new(100, 10);
        assert_eq!(outbox.push(frame(6)), Ok(()));
        assert_eq!(outbox.push(frame(6)), Err(PushError::Overflow));
        assert_eq!(outbox.push(frame(1)), Err(PushError::Closed));
    }

    #[test]
    fn graceful_close_drains_the_queue_first() {
        let outbox = Outbox::new(10, 100);
        outbox.push(frame(3)).ok();
        outbox.close(Close::graceful(DisconnectReason::ServerDisconnect));
        assert!(matches!(outbox.try_next(), Some(Next::Frame(f)) if f.len() == 3));
        assert!(matches!(outbox.try_next(), Some(Next::Closed(_))));
    }
}
