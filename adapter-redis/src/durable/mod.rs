//! Durable recovery: a client whose node died resumes on another node with every reliable
//! event it missed, once and in order.
//!
//! Every reliable broadcast, and each socket's own emits, go into one log in Redis (a
//! stream), appended and told in one script: the log's order is the order every node
//! delivers in, its own broadcasts included, which it delivers when Redis tells them back.
//! Each node records, per session, anchors: "after entry S, this session had been sent k
//! events, and was in these rooms". A node that carries on a dead node's session finds the
//! anchor at or before the client's offset and walks the log from it, counting the entries
//! that reached the session, and replays those after the offset. No write per delivery:
//! anchors are written when a session starts, joins or leaves a room, and every quarter of
//! the recovery window.

mod adopt;
mod journal;
mod log;
mod writes;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use quicket_core::SocketId;
use quicket_core::adapter::{BoxFuture, BroadcastTarget, OutgoingEvent};
use tokio::sync::{Notify, mpsc, watch};

pub(crate) use self::adopt::adopt;
pub(crate) use self::journal::refresh;
use self::journal::{Anchor, Journal, Record};
use self::log::{EntryId, decode_entry, parse_told};
pub(crate) use self::log::{append, newest};
use self::writes::Writes;
pub(crate) use self::writes::run as write_anchors;
use crate::node::{Inner, lock};
use crate::wire::{DurableBroadcast, Envelope, Event, Target, kind};

/// Entries told and waiting for delivery; past it they are dropped, and read back from the
/// log when the next one shows the gap.
const TOLD_QUEUE: usize = 1 << 14;
/// Events waiting for a session being carried on here; past it the session ends instead.
const MAX_PENDING: usize = 1 << 16;

/// The durable log's side of one node.
pub(crate) struct Durable {
    state: Mutex<State>,
    told: mpsc::Sender<Bytes>,
    writes: Writes,
    /// The recovery window, learned from the server; records live this long.
    window_ms: AtomicU64,
    /// The channel entries are told on.
    channel: String,
    /// Wakes whoever waits for this node to reach an entry.
    advanced: Notify,
    /// Entries this node published, and the newest of them it delivered: its own emits wait
    /// for the second to reach the first before a graceful close.
    published: AtomicU64,
    echoed: watch::Sender<u64>,
}

struct State {
    /// The newest entry delivered.
    last: EntryId,
    sessions: HashMap<SocketId, Journal>,
    /// Sessions of a dead node being carried on here: the events that reach them while the
    /// log is read back.
    adoptions: HashMap<SocketId, Pending>,
    /// Each session's resume token, whose record is renewed with the session's.
    tokens: HashMap<SocketId, Bytes>,
}

struct Pending {
    holder: u64,
    rooms: Vec<String>,
    events: Vec<Event>,
    overflowed: bool,
}

impl Durable {
    pub(crate) fn new(last: EntryId, channel: String) -> (Arc<Self>, mpsc::Receiver<Bytes>) {
        let (told, entries) = mpsc::channel(TOLD_QUEUE);
        let durable = Self {
            state: Mutex::new(State {
                last,
                sessions: HashMap::new(),
                adoptions: HashMap::new(),
                tokens: HashMap::new(),
            }),
            told,
            writes: Writes::default(),
            window_ms: AtomicU64::new(0),
            channel,
            advanced: Notify::new(),
            published: AtomicU64::new(0),
            echoed: watch::Sender::new(0),
        };
        (Arc::new(durable), entries)
    }

    /// The node is gone.
    pub(crate) fn close(&self) {
        self.writes.close();
        self.echoed.send_replace(u64::MAX);
    }

    /// Resolves once this node has delivered every entry it published before the call.
    pub(crate) fn settled(&self) -> BoxFuture<'static, ()> {
        let published = self.published.load(Ordering::Relaxed);
        let mut echoed = self.echoed.subscribe();
        Box::pin(async move {
            let _closed = echoed.wait_for(|echoed| *echoed >= published).await;
        })
    }

    /// Whether a message arrived on the log's channel.
    pub(crate) fn is_told_on(&self, channel: &str) -> bool {
        channel == self.channel
    }

    /// An entry told by Redis, for the delivering task.
    pub(crate) fn tell(&self, message: &[u8]) {
        if self.told.try_send(Bytes::copy_from_slice(message)).is_err() {
            tracing::debug!("durable entries queued past the bound; read back from the log");
        }
    }

    /// Delivers one entry, published by node `origin`, to this node's sockets, in the log's
    /// order.
    fn deliver(&self, node: &Inner, id: EntryId, (origin, entry): &(u64, DurableBroadcast)) {
        let mut state = lock(&self.state);
        if id <= state.last {
            return;
        }
        if let Some(target) = entry.target_on(node.node) {
            let payload = entry.event.payload();
            let event = OutgoingEvent::new(&entry.event.name, &payload, false);
            node.local.broadcast(&target, &event);
        }
        for (sid, pending) in &mut state.adoptions {
            if !pending.overflowed && reaches(entry, pending.holder, *sid, &pending.rooms) {
                pending.events.push(entry.event.clone());
                pending.overflowed = pending.events.len() > MAX_PENDING;
            }
        }
        state.last = id;
        drop(state);
        if *origin == node.node {
            // Only once it is queued: a graceful close waiting for it may then go ahead.
            self.echoed.send_if_modified(|echoed| {
                let newer = entry.seq > *echoed;
                *echoed = (*echoed).max(entry.seq);
                newer
            });
        }
        self.advanced.notify_waiters();
    }
}

/// Whether a log entry reached session `sid` of node `holder` while it was in `rooms`.
fn reaches(entry: &DurableBroadcast, holder: u64, sid: SocketId, rooms: &[String]) -> bool {
    entry.target_on(holder).is_some_and(|target| {
        target.includes(sid, |room| {
            rooms.binary_search_by(|r| r.as_str().cmp(room)).is_ok()
        })
    })
}

/// Appends a reliable broadcast to the log; returns how many of this node's sockets it
/// targets, which it reaches once Redis tells it back.
pub(crate) fn publish(
    node: &Inner,
    durable: &Durable,
    target: &BroadcastTarget,
    event: &OutgoingEvent<'_>,
) -> usize {
    let entry = Event::of(event).map(|event| DurableBroadcast {
        target: Target::from(target),
        sockets: target.sockets.clone(),
        node: target.local.then_some(node.node),
        seq: durable.published.fetch_add(1, Ordering::Relaxed) + 1,
        event,
    });
    match entry.and_then(|entry| Envelope::new(kind::DURABLE, node.node, &entry)) {
        Ok(envelope) => node.bus.to_durable_log(&envelope),
        Err(err) => {
            tracing::debug!(%err, "a durable broadcast did not encode");
            return 0;
        }
    }
    node.local.targeted(target)
}

/// Delivers the entries Redis tells, in order, reading back from the log any it missed.
pub(crate) async fn deliver(
    node: Weak<Inner>,
    durable: Arc<Durable>,
    mut told: mpsc::Receiver<Bytes>,
) {
    while let Some(message) = told.recv().await {
        let Some((prev, id, envelope)) = parse_told(&message) else {
            tracing::warn!("a durable entry was not understood");
            continue;
        };
        let last = lock(&durable.state).last;
        if id <= last {
            continue;
        }
        if prev != last {
            let Some(node) = node.upgrade() else {
                return;
            };
            catch_up(&node, &durable, last, prev).await;
        }
        // An anchor that moved a session between rooms is in Redis before any later entry.
        durable.writes.confirmed_all().await;
        let Some(node) = node.upgrade() else {
            return;
        };
        if let Some(entry) = decode_entry(envelope) {
            durable.deliver(&node, id, &entry);
        }
    }
}

/// Delivers the entries after `last` up to `prev` from the log; when they cannot be read
/// (or the log restarted), anchors every session anew after `prev`.
async fn catch_up(node: &Inner, durable: &Durable, last: EntryId, prev: EntryId) {
    let mut conn = node.bus.conn.clone();
    let keys = &node.bus.keys;
    let missed = if prev > last {
        self::log::read(&mut conn, keys, last, prev).await.ok()
    } else {
        None
    };
    let Some(missed) = missed else {
        durable.writes.confirmed_all().await;
        return durable.reanchor(node, prev);
    };
    durable.writes.confirmed_all().await;
    for (id, envelope) in missed {
        if let Some(entry) = decode_entry(&envelope) {
            durable.deliver(node, id, &entry);
        }
    }
    // Trimmed entries are gone for good: this node is past them.
    let mut state = lock(&durable.state);
    if state.last < prev {
        state.last = prev;
    }
}
