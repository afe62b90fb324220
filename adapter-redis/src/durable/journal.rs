//! Each session's anchors: where it stood in the log when it started, joined or left a room,
//! and every quarter of the recovery window; written to Redis as its record.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use quicket_core::adapter::Member;
use quicket_core::{JoinError, Room, SocketId};
use serde::{Deserialize, Serialize};

use super::log::EntryId;
use super::writes::Write;
use super::{Durable, State};
use crate::bus::Outgoing;
use crate::node::{Inner, lock};
use crate::relay::session_key;

/// Anchors kept per session at most; the oldest go first.
const MAX_ANCHORS: usize = 64;
/// Sessions whose records one hold of the lock renews.
const REFRESH_CHUNK: usize = 256;

/// "After entry `after`, the session had been sent `sent` events, and was in `rooms`."
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Anchor {
    pub(super) after: EntryId,
    pub(super) sent: u64,
    pub(super) rooms: Vec<String>,
}

/// A session's record in Redis, under its socket id.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Record {
    pub(super) node: u64,
    pub(super) codec: u8,
    /// Reliable events received from the client, as last written.
    pub(super) received: u64,
    /// Oldest first.
    pub(super) anchors: Vec<Anchor>,
}

/// One session: its socket, which counts what it was sent, and its anchors with when each
/// was taken.
pub(super) struct Journal {
    pub(super) socket: Member,
    pub(super) anchors: VecDeque<(Anchor, Instant)>,
}

impl Durable {
    /// Session `sid` goes by `token` now, for `window`: the recovery window.
    pub(crate) fn held(&self, sid: SocketId, token: &Bytes, window: Duration) {
        let ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        self.window_ms.store(ms, Ordering::Relaxed);
        lock(&self.state).tokens.insert(sid, token.clone());
    }

    pub(super) fn ttl_ms(&self) -> u64 {
        self.window_ms.load(Ordering::Relaxed)
    }

    /// A socket connected: registered, with its first anchor.
    pub(crate) fn add(&self, node: &Inner, socket: Member) {
        let mut state = lock(&self.state);
        node.local.add_socket(socket.clone());
        if socket.events_sent().is_none() {
            return;
        }
        let sid = socket.id();
        let journal = Journal {
            socket,
            anchors: VecDeque::new(),
        };
        state.sessions.insert(sid, journal);
        self.anchor(node, &mut state, sid, true);
    }

    /// Joins a room, anchored: entries after this one reach the session through the room.
    pub(crate) fn join(
        &self,
        node: &Inner,
        sid: SocketId,
        room: Room,
        max_rooms: usize,
    ) -> Result<(), JoinError> {
        let mut state = lock(&self.state);
        node.local.join(sid, room, max_rooms)?;
        self.anchor(node, &mut state, sid, false);
        Ok(())
    }

    /// Leaves a room, anchored.
    pub(crate) fn leave(&self, node: &Inner, sid: SocketId, room: &str) {
        let mut state = lock(&self.state);
        node.local.leave(sid, room);
        self.anchor(node, &mut state, sid, false);
    }

    /// A session ended: its record goes.
    pub(crate) fn remove(&self, node: &Inner, sid: SocketId) {
        let mut state = lock(&self.state);
        node.local.remove_socket(sid);
        state.tokens.remove(&sid);
        if state.sessions.remove(&sid).is_some() {
            let key = node.bus.keys.durable_session(&sid);
            self.writes.queue(key, Write::Delete);
        }
    }

    /// Adds an anchor for `sid` where the node is now, and queues its record.
    pub(super) fn anchor(&self, node: &Inner, state: &mut State, sid: SocketId, create: bool) {
        let last = state.last;
        let Some(journal) = state.sessions.get_mut(&sid) else {
            return;
        };
        let mut rooms: Vec<String> = node
            .local
            .rooms_of(sid)
            .iter()
            .map(|room| room.as_str().to_owned())
            .collect();
        rooms.sort_unstable();
        let anchor = Anchor {
            after: last,
            sent: journal.socket.events_sent().unwrap_or(0),
            rooms,
        };
        journal.anchors.push_back((anchor, Instant::now()));
        if journal.anchors.len() > MAX_ANCHORS {
            journal.anchors.pop_front();
        }
        self.queue_record(node, sid, journal, create);
    }

    fn queue_record(&self, node: &Inner, sid: SocketId, journal: &Journal, create: bool) {
        let ttl_ms = self.ttl_ms();
        if ttl_ms == 0 {
            return;
        }
        let record = Record {
            node: node.node,
            codec: journal.socket.codec().id(),
            received: journal.socket.events_received(),
            anchors: journal.anchors.iter().map(|(a, _)| a.clone()).collect(),
        };
        match crate::wire::encode(&record) {
            Ok(value) => {
                let key = node.bus.keys.durable_session(&sid);
                let write = Write::Set {
                    value,
                    create,
                    ttl_ms,
                };
                self.writes.queue(key, write);
            }
            Err(err) => tracing::error!(%err, "a session's anchors did not encode"),
        }
    }

    /// A new anchor for each session whose count moved, anchors older than the window gone
    /// (the newest always stays), and every record written again: its time to live renewed.
    fn refresh(&self, node: &Inner) {
        let window = Duration::from_millis(self.ttl_ms());
        let sids: Vec<SocketId> = lock(&self.state).sessions.keys().copied().collect();
        // A chunk at a time, so that delivery never waits for every session's record.
        for chunk in sids.chunks(REFRESH_CHUNK) {
            let mut state = lock(&self.state);
            for &sid in chunk {
                self.refresh_one(node, &mut state, sid, window);
            }
        }
    }

    /// One session's part of [`Durable::refresh`].
    fn refresh_one(&self, node: &Inner, state: &mut State, sid: SocketId, window: Duration) {
        let moved = state.sessions.get(&sid).is_some_and(|journal| {
            let sent = journal.socket.events_sent().unwrap_or(0);
            journal.anchors.back().is_none_or(|(a, _)| a.sent != sent)
        });
        if moved {
            self.anchor(node, state, sid, false);
        }
        if let Some(token) = state.tokens.get(&sid) {
            let key = session_key(node, token);
            let ttl_ms = self.ttl_ms().max(1);
            node.bus.session(Outgoing::SessionHeld { key, sid, ttl_ms });
        }
        if let Some(journal) = state.sessions.get_mut(&sid) {
            while journal.anchors.len() > 1
                && journal
                    .anchors
                    .front()
                    .is_some_and(|(_, at)| at.elapsed() > window)
            {
                journal.anchors.pop_front();
            }
            if !moved {
                self.queue_record(node, sid, journal, false);
            }
        }
    }

    /// The log restarted, or entries up to `after` could not be read back: this node's
    /// sessions never had them, and every session starts its anchors again from there. Its
    /// record is written whether or not Redis still has it: a Redis that restarted empty
    /// lost them all.
    pub(super) fn reanchor(&self, node: &Inner, after: EntryId) {
        let mut state = lock(&self.state);
        tracing::warn!(%after, "durable entries missed; sessions anchored anew");
        state.last = after;
        let sids: Vec<SocketId> = state.sessions.keys().copied().collect();
        for sid in sids {
            if let Some(journal) = state.sessions.get_mut(&sid) {
                journal.anchors.clear();
            }
            self.anchor(node, &mut state, sid, true);
        }
    }
}

/// Renews every session's record each quarter of the recovery window, with a new anchor
/// where its count moved.
pub(crate) async fn refresh(node: Weak<Inner>, durable: Arc<Durable>) {
    loop {
        let window = Duration::from_millis(durable.ttl_ms());
        let period = (window / 4).clamp(Duration::from_millis(250), Duration::from_secs(10));
        tokio::time::sleep(period).await;
        let Some(node) = node.upgrade() else {
            return;
        };
        durable.refresh(&node);
    }
}
