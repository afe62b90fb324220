//! The client's view of a room's presence.

use std::collections::{BTreeMap, HashMap};
use std::sync::PoisonError;

use bytes::Bytes;
use quicket_proto::{PayloadCodec, PayloadError, PresenceEntry};
use tokio::sync::{mpsc, watch};

use crate::payload::FromPayload;

/// A room's presence as the client last heard it: each key with its metas, by meta id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PresenceSnapshot {
    codec: Option<PayloadCodec>,
    keys: BTreeMap<String, BTreeMap<u64, Bytes>>,
    counts: Option<PresenceCounts>,
}

/// How many keys and connections a room counts, for a room whose server sends counts only
/// (`ServerBuilder::presence_counts_only`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PresenceCounts {
    /// Keys present.
    pub keys: u64,
    /// Metas present: one per connection tracking a key.
    pub connections: u64,
}

impl PresenceSnapshot {
    /// The room's counts, when its server sends counts only; `None` when it sends keys.
    pub fn counts(&self) -> Option<PresenceCounts> {
        self.counts
    }

    /// The keys present (none in a room that sends counts only).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.keys.contains_key(key)
    }

    /// How many keys are present.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether nobody is present.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The metas of `key`, one per connection that tracks it, decoded as `M`.
    pub fn metas<M: FromPayload>(&self, key: &str) -> Result<Vec<M>, PayloadError> {
        let codec = self.codec.unwrap_or(PayloadCodec::Bincode);
        self.keys
            .get(key)
            .into_iter()
            .flat_map(BTreeMap::values)
            .map(|bytes| M::decode(bytes.clone(), codec))
            .collect()
    }
}

/// A change in a room's presence.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PresenceEvent {
    /// The full state arrived; [`PresenceWatch::state`] holds it.
    Sync,
    /// A meta appeared. `first` when the key was absent before this change: the key joined.
    Join {
        /// The key.
        key: String,
        /// The meta, encoded with the connection's codec.
        meta: Bytes,
        /// Whether the key was absent before the change.
        first: bool,
    },
    /// A meta went away. `last` when the key is absent after this change: the key left.
    Leave {
        /// The key.
        key: String,
        /// The meta, encoded with the connection's codec.
        meta: Bytes,
        /// Whether the key is absent after the change.
        last: bool,
    },
    /// The room's counts changed (or arrived first), in a room whose server sends counts only;
    /// [`PresenceSnapshot::counts`] holds them.
    Count(PresenceCounts),
    /// The server ended the subscription (refused it, or the socket left the room).
    Ended(String),
}

/// A subscription to one room's presence.
#[derive(Debug)]
pub struct PresenceWatch {
    pub(crate) room: String,
    pub(crate) codec: PayloadCodec,
    pub(crate) events: mpsc::Receiver<PresenceEvent>,
    pub(crate) state: watch::Receiver<PresenceSnapshot>,
}

impl PresenceWatch {
    /// The room.
    pub fn room(&self) -> &str {
        &self.room
    }

    /// The next change; `None` once the subscription or the connection has ended. Events are
    /// dropped when they are not read fast enough, but [`PresenceWatch::state`] stays exact.
    pub async fn next(&mut self) -> Option<PresenceEvent> {
        self.events.recv().await
    }

    /// The current state.
    pub fn state(&self) -> PresenceSnapshot {
        self.state.borrow().clone()
    }

    /// A meta of a [`PresenceEvent::Join`] or [`PresenceEvent::Leave`], decoded as `M` with
    /// the connection's codec.
    pub fn decode_meta<M: FromPayload>(&self, meta: &Bytes) -> Result<M, PayloadError> {
        M::decode(meta.clone(), self.codec)
    }
}

/// The client side of one subscription, fed by the connection's driver.
pub(crate) struct PresenceFeed {
    pub(crate) events: mpsc::Sender<PresenceEvent>,
    pub(crate) state: watch::Sender<PresenceSnapshot>,
    /// The parts of a state too large for one frame, until the state that completes them.
    pub(crate) parts: std::sync::Mutex<Vec<PresenceEntry>>,
}

/// Keys a state may arrive with in parts: ten times a server's default room limit.
const MAX_PART_KEYS: usize = 100_000;

impl PresenceFeed {
    /// Keeps part of a state for the `PresenceState` that completes it; refused past
    /// [`MAX_PART_KEYS`], a bound no server within its room limit reaches.
    pub(crate) fn part(&self, entries: Vec<PresenceEntry>) -> Result<(), String> {
        let mut parts = self.parts.lock().unwrap_or_else(PoisonError::into_inner);
        if parts.len() + entries.len() > MAX_PART_KEYS {
            return Err(format!(
                "a presence state in parts of more than {MAX_PART_KEYS} keys"
            ));
        }
        parts.extend(entries);
        Ok(())
    }

    pub(crate) fn count(&self, keys: u64, connections: u64) {
        let counts = PresenceCounts { keys, connections };
        self.state.send_modify(|snapshot| {
            snapshot.keys.clear();
            snapshot.counts = Some(counts);
        });
        self.notify(PresenceEvent::Count(counts));
    }

    /// Forgets the parts of a state that will not be completed: its connection dropped.
    pub(crate) fn drop_parts(&self) {
        self.parts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    pub(crate) fn sync(&self, codec: PayloadCodec, entries: Vec<PresenceEntry>) {
        let parts = std::mem::take(&mut *self.parts.lock().unwrap_or_else(PoisonError::into_inner));
        let keys = parts
            .into_iter()
            .chain(entries)
            .map(|entry| {
                (
                    entry.key,
                    entry.metas.into_iter().map(|m| (m.id, m.data)).collect(),
                )
            })
            .collect();
        self.state.send_replace(PresenceSnapshot {
            codec: Some(codec),
            keys,
            counts: None,
        });
        self.notify(PresenceEvent::Sync);
    }

    /// Applies a diff as one change: `first` and `last` compare the state before the whole
    /// diff with the state after it, so an update (a leave and a join of the same key) is
    /// neither a key leaving nor one joining.
    pub(crate) fn diff(&self, joins: Vec<PresenceEntry>, leaves: Vec<PresenceEntry>) {
        let mut left = Vec::new();
        let mut joined = Vec::new();
        let mut present_before = HashMap::new();
        self.state.send_modify(|snapshot| {
            for entry in joins.iter().chain(&leaves) {
                present_before
                    .entry(entry.key.clone())
                    .or_insert_with(|| snapshot.keys.contains_key(&entry.key));
            }
            for entry in leaves {
                let Some(metas) = snapshot.keys.get_mut(&entry.key) else {
                    continue;
                };
                for meta in entry.metas {
                    if metas.remove(&meta.id).is_some() {
                        left.push((entry.key.clone(), meta.data));
                    }
                }
                if metas.is_empty() {
                    snapshot.keys.remove(&entry.key);
                }
            }
            for entry in joins {
                let metas = snapshot.keys.entry(entry.key.clone()).or_default();
                for meta in entry.metas {
                    metas.insert(meta.id, meta.data.clone());
                    joined.push((entry.key.clone(), meta.data));
                }
            }
        });
        let state = self.state.borrow().clone();
        let was = |key: &str| present_before.get(key).copied().unwrap_or(false);
        for (key, meta) in left {
            let last = was(&key) && !state.contains(&key);
            self.notify(PresenceEvent::Leave { key, meta, last });
        }
        for (key, meta) in joined {
            let first = !was(&key) && state.contains(&key);
            self.notify(PresenceEvent::Join { key, meta, first });
        }
    }

    pub(crate) fn notify(&self, event: PresenceEvent) {
        if self.events.try_send(event).is_err() {
            tracing::debug!("presence event dropped: the watch is not being read");
        }
    }
}
