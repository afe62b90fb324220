//! The bounded outbound queue of one connection.
//!
//! Every emit to a connection, from any task, lands here without waiting; the connection's
//! driver drains it into the transport. Reliable frames overflow into a `SlowConsumer` close of
//! this connection alone, so a stalled reader never stalls its room. Volatile frames are
//! refused once the queue is half full, so they are always dropped before reliable ones.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use std::task::Poll;

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use quicket_proto::DisconnectReason;
use tokio::sync::Notify;

use super::channels::{ChannelKey, ChannelMap};
use super::close::Close;
use super::replay::{Break, LogError, Offsets, ReplayLog};

/// Why a reliable frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The connection is closing.
    Closed,
    /// The queue was full: the connection is now closing as a slow consumer.
    Overflow,
    /// The connection is down and the offline buffer is full.
    OfflineFull,
}

/// Where a queued frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// An ordered channel: 0, or one the server opened (PROTOCOL.md section 2.2).
    Channel(u16),
    /// A single-frame stream (section 2.3); with a key, superseding the last frame of that key.
    Alone(Option<u64>),
    /// Channel 0, where a stream per value is not to be had (WebSocket), for a latest value
    /// that takes the place of its key's value still queued: a slow reader holds one per key.
    Superseding(u64),
}

impl Route {
    /// The key whose queued frame this one replaces.
    fn supersedes(self) -> Option<u64> {
        match self {
            Route::Alone(key) => key,
            Route::Superseding(key) => Some(key),
            Route::Channel(_) => None,
        }
    }
}

/// What the driver takes off the queue next.
#[derive(Debug)]
pub(crate) enum Next {
    /// A frame, and where it goes.
    Frame(Route, Bytes),
    Closed(Close),
}

#[derive(Debug)]
pub(crate) struct Outbox {
    state: Mutex<State>,
    /// The driver, the queue's one consumer. Cheaper to wake than a `Notify`: a broadcast
    /// wakes one per recipient.
    ready: AtomicWaker,
    closing: Notify,
    max_frames: usize,
    max_bytes: usize,
    /// [`ChannelMap::granted`] of `state`, readable without the lock.
    granted: AtomicU16,
}

#[derive(Debug)]
struct State {
    /// Each frame with its route.
    frames: VecDeque<(Route, Bytes)>,
    bytes: usize,
    close: Option<Close>,
    /// Whether a connection drains the queue; not between a drop and a resume.
    attached: bool,
    /// Frames, and their bytes, at the head of the queue that a resume put there: they do
    /// not count against the bounds, or a long replay would cut the connection it resumes.
    replay: (usize, usize),
    /// The session's reliable events, when sessions can be resumed.
    log: Option<ReplayLog>,
    /// Which channel each room's events take.
    channels: ChannelMap,
}

impl Outbox {
    pub(crate) fn new(max_frames: usize, max_bytes: usize, log: Option<ReplayLog>) -> Self {
        Self {
            state: Mutex::new(State {
                frames: VecDeque::new(),
                bytes: 0,
                close: None,
                attached: true,
                replay: (0, 0),
                log,
                channels: ChannelMap::default(),
            }),
            ready: AtomicWaker::new(),
            closing: Notify::new(),
            max_frames: max_frames.max(2),
            max_bytes: max_bytes.max(2),
            granted: AtomicU16::new(0),
        }
    }

    /// Queues a reliable frame, or closes the connection as a slow consumer when it cannot.
    pub(crate) fn push(&self, frame: Bytes) -> Result<(), PushError> {
        let state = self.lock();
        if state.close.is_some() || !state.attached {
            return Err(PushError::Closed);
        }
        self.push_open(state, Route::Channel(0), frame, None)
    }

    /// Queues a frame that the peer does not count (a single-frame stream's, a `Sequenced`),
    /// outside the replay log. It counts against the bounds like any reliable frame; a frame
    /// that supersedes one still queued takes its place instead.
    pub(crate) fn push_unlogged(&self, route: Route, frame: Bytes) -> Result<(), PushError> {
        let mut state = self.lock();
        if state.close.is_some() || !state.attached {
            return Err(PushError::Closed);
        }
        if route.supersedes().is_some() {
            let replay = state.replay.0;
            let queued = state
                .frames
                .iter_mut()
                .skip(replay)
                .find(|(r, _)| *r == route);
            if let Some((_, stale)) = queued {
                let old = std::mem::replace(stale, frame);
                let grown = stale.len();
                state.bytes = state.bytes - old.len() + grown;
                return Ok(());
            }
        }
        self.push_open(state, route, frame, None)
    }

    /// Lets the session's room events take up to `granted` channels beside channel 0; the
    /// grant of a session never changes once it has one.
    pub(crate) fn grant_channels(&self, granted: u16) {
        let mut state = self.lock();
        state.channels.grant(granted);
        self.granted
            .store(state.channels.granted(), Ordering::Relaxed);
    }

    /// The channels the session was granted. Read for every frame a channel brings, so
    /// without the queue's lock.
    pub(crate) fn channels_granted(&self) -> u16 {
        self.granted.load(Ordering::Relaxed)
    }

    /// Queues a reliable event (an `Event` without an ack id): it is also logged for replay.
    /// While the connection is down, or breaking, it waits in the log for a resume.
    /// `now` stamps it for the log's age bound; a broadcast reads the clock once for all.
    /// `key` names the room whose channel it takes; `None` for channel 0.
    pub(crate) fn push_event(
        &self,
        frame: Bytes,
        now: Instant,
        key: Option<ChannelKey>,
    ) -> Result<(), PushError> {
        let mut state = self.lock();
        let channel = state.channels.channel_for(key);
        let open = state.attached && state.close.is_none();
        if open {
            return self.push_open(state, Route::Channel(channel), frame, Some(now));
        }
        let resumable = state.close.as_ref().is_none_or(Close::is_recoverable);
        let Some(log) = state.log.as_mut().filter(|_| resumable) else {
            return Err(PushError::Closed);
        };
        match log.push_offline(channel, frame, now) {
            Ok(()) => Ok(()),
            Err(LogError::OfflineFull) => Err(PushError::OfflineFull),
            Err(LogError::Broken) => {
                drop(state);
                self.closing.notify_waiters();
                Err(PushError::Closed)
            }
        }
    }

    fn push_open(
        &self,
        mut state: MutexGuard<'_, State>,
        route: Route,
        frame: Bytes,
        logged_at: Option<Instant>,
    ) -> Result<(), PushError> {
        let (replay_frames, replay_bytes) = state.replay;
        if state.frames.len() - replay_frames >= self.max_frames
            || state.bytes - replay_bytes + frame.len() > self.max_bytes
        {
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
        if let (Some(now), Some(log), Route::Channel(channel)) =
            (logged_at, state.log.as_mut(), route)
        {
            log.push_live(channel, frame.clone(), now);
        }
        self.enqueue(state, route, frame);
        Ok(())
    }

    /// Queues a frame that may be dropped if the queue is less than half full; returns whether
    /// it did. A volatile `Event` is `logged`: the peer counts it like any event on the
    /// ordered channel. A `Sequenced` frame is not.
    pub(crate) fn push_droppable(&self, frame: Bytes, logged: bool) -> bool {
        let mut state = self.lock();
        let (replay_frames, replay_bytes) = state.replay;
        if state.close.is_some()
            || !state.attached
            || state.frames.len() - replay_frames >= self.max_frames / 2
            || state.bytes - replay_bytes + frame.len() > self.max_bytes / 2
        {
            return false;
        }
        if let Some(log) = state.log.as_mut().filter(|_| logged) {
            log.push_live(0, frame.clone(), Instant::now());
        }
        self.enqueue(state, Route::Channel(0), frame);
        true
    }

    /// The connection is gone but the session stays: drops what was queued (the log keeps the
    /// events) and holds later events in the log until [`Outbox::resume`].
    /// When the log does not fit in the waiting sessions' budget, the session cannot be
    /// resumed, and [`broken`](Self::broken) resolves.
    pub(crate) fn detach(&self) {
        let mut state = self.lock();
        state.frames.clear();
        state.bytes = 0;
        state.replay = (0, 0);
        state.close = None;
        state.attached = false;
        let held = state.log.as_mut().is_none_or(|log| log.detach().is_ok());
        drop(state);
        if !held {
            self.closing.notify_waiters();
        }
    }

    /// How many reliable events the log has numbered: the offset of the last one, which a
    /// client that handled them all resumes from. `None` without a log.
    pub(crate) fn events_numbered(&self) -> Option<u64> {
        self.lock().log.as_ref().map(|log| log.next_offset() - 1)
    }

    /// Whether the session can still be resumed (its log has not overflowed).
    pub(crate) fn is_resumable(&self) -> bool {
        self.lock().log.as_ref().is_some_and(|log| !log.is_broken())
    }

    /// Why the session can no longer be resumed, when its log says.
    pub(crate) fn broken_by(&self) -> Option<Break> {
        self.lock().log.as_ref().and_then(ReplayLog::broken_by)
    }

    /// The session ends: nothing more is logged.
    pub(crate) fn end_session(&self) {
        self.lock().log = None;
    }

    /// Attaches a new connection: `first` (the server's `Welcome`), then the events the peer
    /// has not handled, then live traffic. `after` is the peer's offset on each channel;
    /// `None` starts a new numbering with the events emitted offline. Returns how many events
    /// the peer missed for good, or `None` when a strict resume is impossible.
    pub(crate) fn resume(
        &self,
        first: Option<Bytes>,
        after: Option<&Offsets>,
        lossy: bool,
    ) -> Option<u64> {
        self.resume_with(first, after, lossy, false)
    }

    /// [`resume`](Self::resume) on a connection that carries channel 0 alone, for a session
    /// that had more: what the peer missed on any channel, and everything after, goes on
    /// channel 0 (see [`ReplayLog::resume_merged`]).
    pub(crate) fn resume_merged(&self, first: Bytes, after: &Offsets) -> Option<u64> {
        self.resume_with(Some(first), Some(after), false, true)
    }

    fn resume_with(
        &self,
        first: Option<Bytes>,
        after: Option<&Offsets>,
        lossy: bool,
        merged: bool,
    ) -> Option<u64> {
        let mut state = self.lock();
        let log = state.log.as_mut()?;
        let now = Instant::now();
        let (replay, lost) = match after {
            Some(offsets) if lossy => {
                let offset = offsets.first().copied().unwrap_or(0);
                let lost = log.missing_after(offset);
                let from = offset.max(log.oldest_replayable());
                (log.resume_after(&[from], now).unwrap_or_default(), lost)
            }
            Some(offsets) if merged => (log.resume_merged(offsets, now)?, 0),
            Some(offsets) => (log.resume_after(offsets, now)?, 0),
            None => (log.restart(), 0),
        };
        if merged {
            state.channels.grant(0);
            self.granted.store(0, Ordering::Relaxed);
        }
        state.frames = first
            .map(|frame| (0, frame))
            .into_iter()
            .chain(replay)
            .map(|(channel, frame)| (Route::Channel(channel), frame))
            .collect();
        state.bytes = state.frames.iter().map(|(_, frame)| frame.len()).sum();
        state.replay = (state.frames.len(), state.bytes);
        state.close = None;
        state.attached = true;
        drop(state);
        self.ready.wake();
        Some(lost)
    }

    fn enqueue(&self, mut state: MutexGuard<'_, State>, route: Route, frame: Bytes) {
        let was_empty = state.frames.is_empty();
        state.bytes += frame.len();
        state.frames.push_back((route, frame));
        drop(state);
        // The driver re-checks the queue under the lock before it sleeps, so it only needs a
        // wake-up when the queue stops being empty: one per burst, not one per frame.
        if was_empty {
            self.ready.wake();
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
        let state = self.lock();
        state.close.is_some() || !state.attached
    }

    /// The close under way, if any, without taking a frame off the queue.
    pub(crate) fn close_state(&self) -> Option<Close> {
        self.lock().close.clone()
    }

    /// The next frame to write, or the close once the queue is drained (or dropped).
    pub(crate) fn try_next(&self) -> Option<Next> {
        let mut state = self.lock();
        if let Some((route, frame)) = state.frames.pop_front() {
            state.bytes -= frame.len();
            if state.replay.0 > 0 {
                state.replay.0 -= 1;
                state.replay.1 -= frame.len();
            }
            return Some(Next::Frame(route, frame));
        }
        state.close.clone().map(Next::Closed)
    }

    /// Waits until [`Outbox::try_next`] has something.
    /// Only one task may wait here at a time: the connection's driver.
    pub(crate) async fn ready(&self) {
        std::future::poll_fn(|cx| {
            // Registered before the check, so a push after the check wakes this task.
            self.ready.register(cx.waker());
            let state = self.lock();
            if !state.frames.is_empty() || state.close.is_some() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }

    /// Resolves once the application asked to close (not on a mere drop).
    pub(crate) async fn close_requested(&self) {
        loop {
            let notified = self.closing.notified();
            if self.lock().close.is_some() {
                return;
            }
            notified.await;
        }
    }

    /// Resolves once the session can no longer be resumed.
    pub(crate) async fn broken(&self) {
        loop {
            let notified = self.closing.notified();
            if !self.is_resumable() {
                return;
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
        self.ready.wake();
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
            self.replay = (0, 0);
        }
        self.close = Some(close);
    }
}

#[cfg(test)]
mod tests {
    use super::super::replay::WhenFull;
    use super::*;
    use crate::config::ReplayLimits;

    fn frame(len: usize) -> Bytes {
        Bytes::from(vec![0u8; len])
    }

    #[test]
    fn volatile_frames_are_refused_before_reliable_ones_overflow() {
        let outbox = Outbox::new(4, 1 << 20, None);
        assert!(outbox.push_droppable(frame(1), true));
        assert!(outbox.push_droppable(frame(1), true));
        assert!(
            !outbox.push_droppable(frame(1), true),
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
    fn a_latest_value_takes_the_place_of_the_one_it_supersedes_while_both_are_queued() {
        let outbox = Outbox::new(10, 100, None);
        assert_eq!(
            outbox.push_unlogged(Route::Alone(Some(7)), frame(5)),
            Ok(())
        );
        assert_eq!(outbox.push_unlogged(Route::Alone(None), frame(1)), Ok(()));
        assert_eq!(
            outbox.push_unlogged(Route::Alone(Some(7)), frame(3)),
            Ok(())
        );
        assert_eq!(
            outbox.push_unlogged(Route::Alone(Some(8)), frame(2)),
            Ok(())
        );
        let mut taken = Vec::new();
        while let Some(Next::Frame(route, f)) = outbox.try_next() {
            taken.push((route, f.len()));
        }
        assert_eq!(
            taken,
            [
                (Route::Alone(Some(7)), 3),
                (Route::Alone(None), 1),
                (Route::Alone(Some(8)), 2)
            ],
            "key 7's newer value in the older one's place; nothing else moves"
        );
    }

    #[test]
    fn a_latest_value_on_channel_0_supersedes_its_keys_queued_value_too() {
        let outbox = Outbox::new(3, 100, None);
        for len in 1..=10 {
            let pushed = outbox.push_unlogged(Route::Superseding(1), frame(len));
            assert_eq!(
                pushed,
                Ok(()),
                "one queued value per key, however slow the reader"
            );
        }
        assert!(
            matches!(outbox.try_next(), Some(Next::Frame(Route::Superseding(1), f)) if f.len() == 10)
        );
        assert!(outbox.try_next().is_none());
    }

    #[test]
    fn unlogged_frames_stay_out_of_the_replay_log() {
        let log = ReplayLog::new(ReplayLimits::default(), WhenFull::KeepOffline);
        let outbox = Outbox::new(10, 100, Some(log));
        outbox.push_unlogged(Route::Alone(None), frame(4)).ok();
        outbox.push_unlogged(Route::Channel(0), frame(4)).ok();
        assert_eq!(outbox.events_numbered(), Some(0));
    }

    #[test]
    fn byte_budget_overflows_too() {
        let outbox = Outbox::new(100, 10, None);
        assert_eq!(outbox.push(frame(6)), Ok(()));
        assert_eq!(outbox.push(frame(6)), Err(PushError::Overflow));
        assert_eq!(outbox.push(frame(1)), Err(PushError::Closed));
    }

    #[test]
    fn graceful_close_drains_the_queue_first() {
        let outbox = Outbox::new(10, 100, None);
        outbox.push(frame(3)).ok();
        outbox.close(Close::graceful(DisconnectReason::ServerDisconnect));
        assert!(
            matches!(outbox.try_next(), Some(Next::Frame(Route::Channel(0), f)) if f.len() == 3)
        );
        assert!(matches!(outbox.try_next(), Some(Next::Closed(_))));
    }
}
