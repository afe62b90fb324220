//! Phoenix-style presence for the rooms of one node.
//!
//! A key (a user id) has one meta per connection that tracks it, so one user on three devices
//! is one key with three metas. Subscribers get the room's state, then diffs; an update is the
//! old meta leaving and the new one joining in the same diff.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use quicket_proto::{
    Frame, PayloadCodec, PresenceCount, PresenceDiff, PresenceEnd, PresenceEntry, PresenceMeta,
    SocketId, codec,
};

use super::Room;
use super::member::Member;
use super::presence_batch::{Batch, Flusher};
use crate::config::PresenceLimits;
use crate::error::{EmitError, PresenceError};
use crate::payload::EncodedPayload;

/// One key's metas, as listed on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PresenceKey {
    /// The key.
    pub key: String,
    /// One meta per connection tracking it.
    pub metas: Vec<StoredMeta>,
}

impl PresenceKey {
    /// A key with its metas, as a cluster adapter that reads them from elsewhere lists it.
    pub fn new(key: String, metas: Vec<StoredMeta>) -> Self {
        Self { key, metas }
    }
}

/// One connection's meta for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredMeta {
    /// Unique within the room; a new id on every update.
    pub id: u64,
    /// The connection that tracks it.
    pub sid: SocketId,
    /// The metadata.
    pub meta: EncodedPayload,
}

impl StoredMeta {
    /// A meta, as another node tracked it.
    pub fn new(id: u64, sid: SocketId, meta: EncodedPayload) -> Self {
        Self { id, sid, meta }
    }
}

/// A key one socket tracked in a room: what the end of a dropped session's presence grace
/// takes away, and what the session's resume tracks again.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackedKey {
    /// The room.
    pub room: Room,
    /// The key.
    pub key: String,
    /// The socket's meta for the key.
    pub meta: EncodedPayload,
}

impl TrackedKey {
    /// A key a socket tracked in `room` with `meta`, as a cluster adapter's `forget` reports it.
    pub fn new(room: Room, key: String, meta: EncodedPayload) -> Self {
        Self { room, key, meta }
    }
}

/// A change this node made to a room's presence: what a cluster adapter tells the others.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PresenceChange {
    /// The room.
    pub room: Room,
    /// Metas that joined, with their keys.
    pub joins: Vec<(String, StoredMeta)>,
    /// Metas that left, with their keys.
    pub leaves: Vec<(String, StoredMeta)>,
}

/// Hears every [`PresenceChange`] this node makes. It runs under the presence lock, so it
/// must only hand the change on (to a bounded queue), never block.
pub type PresenceHook = Box<dyn Fn(PresenceChange) + Send + Sync>;

#[derive(Default)]
pub(crate) struct PresenceStore {
    rooms: HashMap<Room, RoomPresence>,
    /// Keys each of this node's sockets tracks, over its rooms.
    keys_of: HashMap<SocketId, usize>,
    next_id: u64,
    hook: Option<PresenceHook>,
    flusher: Flusher,
}

#[derive(Default)]
struct RoomPresence {
    keys: BTreeMap<String, Vec<StoredMeta>>,
    subscribers: HashMap<SocketId, Member>,
    /// Changes not yet told, while the room batches its diffs.
    batch: Option<Batch>,
}

/// Metas that joined and left, by key.
#[derive(Default)]
pub(super) struct Diff {
    pub(super) joins: Vec<(String, StoredMeta)>,
    pub(super) leaves: Vec<(String, StoredMeta)>,
}

impl PresenceStore {
    /// A store whose meta ids start after `ids_from`, that tells `hook` of every change, and
    /// that lives in `me` (whose batches end from a task of their own).
    pub(crate) fn new(
        ids_from: u64,
        hook: Option<PresenceHook>,
        me: std::sync::Weak<std::sync::Mutex<PresenceStore>>,
    ) -> Self {
        Self {
            rooms: HashMap::new(),
            keys_of: HashMap::new(),
            next_id: ids_from,
            hook,
            flusher: Flusher::new(me),
        }
    }

    /// Tells `room`'s subscribers its batch of changes, now that its interval is over.
    pub(crate) fn flush(&mut self, room: &str) {
        if let Some(presence) = self.rooms.get_mut(room) {
            presence.flush(room);
        }
        self.forget_if_empty(room);
    }

    /// Applies a change another node made: its subscribers here hear it, the hook does not.
    pub(crate) fn apply_remote(
        &mut self,
        room: &str,
        joins: Vec<(String, StoredMeta)>,
        leaves: &[(String, u64)],
    ) {
        let presence = self.rooms.entry(Room::from(room)).or_default();
        let mut diff = Diff::default();
        for (key, id) in leaves {
            let Some(metas) = presence.keys.get_mut(key) else {
                continue;
            };
            if let Some(at) = metas.iter().position(|stored| stored.id == *id) {
                diff.leaves.push((key.clone(), metas.remove(at)));
            }
            if metas.is_empty() {
                presence.keys.remove(key);
            }
        }
        for (key, meta) in joins {
            let metas = presence.keys.entry(key.clone()).or_default();
            if metas.iter().all(|stored| stored.id != meta.id) {
                metas.push(meta.clone());
                diff.joins.push((key, meta));
            }
        }
        presence.publish(room, &diff, &self.flusher);
        self.forget_if_empty(room);
    }

    fn tell(&self, room: &str, diff: Diff) {
        if let Some(hook) = &self.hook
            && !(diff.joins.is_empty() && diff.leaves.is_empty())
        {
            hook(PresenceChange {
                room: Room::from(room),
                joins: diff.joins,
                leaves: diff.leaves,
            });
        }
    }

    /// Tracks `key` for a socket, or replaces its meta; refused past the limits.
    pub(crate) fn track(
        &mut self,
        room: &Room,
        key: &str,
        sid: SocketId,
        meta: EncodedPayload,
        limits: &PresenceLimits,
    ) -> Result<(), PresenceError> {
        let metas = self.rooms.get(room).and_then(|p| p.keys.get(key));
        if !metas.is_some_and(|metas| metas.iter().any(|stored| stored.sid == sid)) {
            let room_keys = self.rooms.get(room).map_or(0, |p| p.keys.len());
            match metas {
                None if room_keys >= limits.max_keys_per_room => {
                    return Err(PresenceError::RoomFull {
                        max: limits.max_keys_per_room,
                    });
                }
                Some(metas) if metas.len() >= limits.max_metas_per_key => {
                    return Err(PresenceError::TooManyMetas {
                        key: key.to_owned(),
                        max: limits.max_metas_per_key,
                    });
                }
                _ => {}
            }
            let tracked = self.keys_of.entry(sid).or_default();
            if *tracked >= limits.max_keys_per_socket {
                return Err(PresenceError::TooManyKeys {
                    max: limits.max_keys_per_socket,
                });
            }
            *tracked += 1;
        }
        self.next_id += 1;
        let fresh = StoredMeta {
            id: self.next_id,
            sid,
            meta,
        };
        let presence = self.rooms.entry(room.clone()).or_default();
        let metas = presence.keys.entry(key.to_owned()).or_default();
        let mut diff = Diff::default();
        match metas.iter_mut().find(|stored| stored.sid == sid) {
            Some(slot) => diff
                .leaves
                .push((key.to_owned(), std::mem::replace(slot, fresh.clone()))),
            None => metas.push(fresh.clone()),
        }
        diff.joins.push((key.to_owned(), fresh));
        presence.publish(room, &diff, &self.flusher);
        self.tell(room, diff);
        Ok(())
    }

    /// How many metas `key` has in `room`.
    pub(crate) fn count(&self, room: &str, key: &str) -> usize {
        self.rooms
            .get(room)
            .and_then(|presence| presence.keys.get(key))
            .map_or(0, Vec::len)
    }

    /// `sid` stopped tracking `removed` keys.
    fn untracked(&mut self, sid: SocketId, removed: usize) {
        if let Some(tracked) = self.keys_of.get_mut(&sid) {
            *tracked = tracked.saturating_sub(removed);
            if *tracked == 0 {
                self.keys_of.remove(&sid);
            }
        }
    }

    pub(crate) fn untrack(&mut self, room: &str, key: &str, sid: SocketId) {
        let Some(presence) = self.rooms.get_mut(room) else {
            return;
        };
        let mut diff = Diff::default();
        if let Some(metas) = presence.keys.get_mut(key) {
            metas.retain(|stored| {
                let keep = stored.sid != sid;
                if !keep {
                    diff.leaves.push((key.to_owned(), stored.clone()));
                }
                keep
            });
            if metas.is_empty() {
                presence.keys.remove(key);
            }
        }
        presence.publish(room, &diff, &self.flusher);
        let removed = diff.leaves.len();
        self.tell(room, diff);
        self.untracked(sid, removed);
        self.forget_if_empty(room);
    }

    /// A socket left the room or disconnected: its metas go, and its subscription ends
    /// (with a `PresenceEnd` when it is still connected to read it). Returns the keys it
    /// tracked there, with their metas.
    pub(crate) fn remove_socket(
        &mut self,
        room: &str,
        sid: SocketId,
        tell: bool,
    ) -> Vec<(String, EncodedPayload)> {
        let Some(presence) = self.rooms.get_mut(room) else {
            return Vec::new();
        };
        let mut diff = Diff::default();
        presence.keys.retain(|key, metas| {
            metas.retain(|stored| {
                let keep = stored.sid != sid;
                if !keep {
                    diff.leaves.push((key.clone(), stored.clone()));
                }
                keep
            });
            !metas.is_empty()
        });
        if let Some(socket) = presence.subscribers.remove(&sid)
            && tell
        {
            end(&socket, room, "left the room");
        }
        presence.publish(room, &diff, &self.flusher);
        let removed: Vec<_> = diff
            .leaves
            .iter()
            .map(|(key, stored)| (key.clone(), stored.meta.clone()))
            .collect();
        self.tell(room, diff);
        self.untracked(sid, removed.len());
        self.forget_if_empty(room);
        removed
    }

    pub(crate) fn subscribe(&mut self, room: &Room, socket: &Member) -> Result<(), EmitError> {
        let presence = self.rooms.entry(room.clone()).or_default();
        // The new state holds the batch's changes: the others hear them now, so that every
        // change after the state reaches the new subscriber too.
        presence.flush(room);
        let core = socket.core();
        let sent = if socket.owner().counts_only(room) {
            core.send_reliable(presence.count_frame(room))
        } else {
            let codec = socket.codec();
            let entries = presence
                .keys
                .iter()
                .map(|(key, metas)| entry(key, metas.iter(), codec))
                .collect();
            super::presence_state::frames(room, entries, core.peer_max_frame_size()).and_then(
                |frames| {
                    frames
                        .into_iter()
                        .try_for_each(|frame| core.send_reliable(frame))
                },
            )
        };
        if sent.is_ok() {
            presence.subscribers.insert(socket.id(), socket.clone());
        }
        self.forget_if_empty(room);
        sent
    }

    pub(crate) fn unsubscribe(&mut self, room: &str, sid: SocketId, notify: bool) {
        let removed = self
            .rooms
            .get_mut(room)
            .and_then(|p| p.subscribers.remove(&sid));
        if let (Some(socket), true) = (removed, notify) {
            end(&socket, room, "unsubscribed");
        }
        self.forget_if_empty(room);
    }

    pub(crate) fn list(&self, room: &str) -> Vec<PresenceKey> {
        let Some(presence) = self.rooms.get(room) else {
            return Vec::new();
        };
        presence
            .keys
            .iter()
            .map(|(key, metas)| PresenceKey {
                key: key.clone(),
                metas: metas.clone(),
            })
            .collect()
    }

    fn forget_if_empty(&mut self, room: &str) {
        if self
            .rooms
            .get(room)
            .is_some_and(|p| p.keys.is_empty() && p.subscribers.is_empty())
        {
            self.rooms.remove(room);
        }
    }
}

impl RoomPresence {
    /// Tells the subscribers a change: at once, or with the room's batch when its server
    /// batches diffs.
    fn publish(&mut self, room: &str, diff: &Diff, flusher: &Flusher) {
        if diff.joins.is_empty() && diff.leaves.is_empty() {
            return;
        }
        if let Some(batch) = &mut self.batch {
            batch.merge(diff);
            return;
        }
        let interval = self
            .subscribers
            .values()
            .next()
            .map_or(Duration::ZERO, |s| s.owner().presence_limits().diff_batch);
        if !interval.is_zero() && flusher.schedule(room, interval) {
            let mut batch = Batch::default();
            batch.merge(diff);
            self.batch = Some(batch);
            return;
        }
        self.send(room, diff);
    }

    /// Ends the batch: its changes go out as one diff.
    fn flush(&mut self, room: &str) {
        if let Some(batch) = self.batch.take() {
            let diff = batch.into_diff();
            if !(diff.joins.is_empty() && diff.leaves.is_empty()) {
                self.send(room, &diff);
            }
        }
    }

    /// The room's counts, as a frame for its subscribers.
    fn count_frame(&self, room: &str) -> Bytes {
        codec::encode(&Frame::PresenceCount(PresenceCount {
            room: room.to_owned(),
            keys: self.keys.len() as u64,
            connections: self.keys.values().map(Vec::len).sum::<usize>() as u64,
        }))
    }

    /// Tells every subscriber a change: the diff, encoded once per codec; or, in a room that
    /// sends counts only, the new counts.
    ///
    /// A subscriber that cannot take the diff (larger than it accepts) would drift from the
    /// truth from then on, so its subscription ends instead.
    fn send(&mut self, room: &str, diff: &Diff) {
        if let Some(socket) = self.subscribers.values().next()
            && socket.owner().counts_only(room)
        {
            let frame = self.count_frame(room);
            for socket in self.subscribers.values() {
                // A subscriber that cannot take it is gone, or cut as a slow consumer.
                let _gone_or_cut = socket.core().send_reliable(frame.clone());
            }
            return;
        }
        let mut encoded: [Option<Bytes>; PayloadCodec::COUNT] = Default::default();
        let mut unfit = Vec::new();
        for (sid, socket) in &self.subscribers {
            let codec = socket.codec();
            let frame = encoded[codec.index()].get_or_insert_with(|| {
                codec::encode(&Frame::PresenceDiff(PresenceDiff {
                    room: room.to_string(),
                    joins: group(&diff.joins, codec),
                    leaves: group(&diff.leaves, codec),
                }))
            });
            if let Err(EmitError::FrameTooLarge { .. }) = socket.core().send_reliable(frame.clone())
            {
                unfit.push(*sid);
            }
        }
        for sid in unfit {
            if let Some(socket) = self.subscribers.remove(&sid) {
                end(
                    &socket,
                    room,
                    "a presence diff exceeded the connection's frame limit",
                );
            }
        }
    }
}

fn end(socket: &Member, room: &str, why: &str) {
    let frame = Frame::PresenceEnd(PresenceEnd {
        room: room.to_owned(),
        message: why.to_owned(),
    });
    let _closing = socket.core().send_frame(&frame);
}

fn entry<'a>(
    key: &str,
    metas: impl Iterator<Item = &'a StoredMeta>,
    codec: PayloadCodec,
) -> PresenceEntry {
    PresenceEntry {
        key: key.to_owned(),
        metas: metas
            .map(|stored| PresenceMeta {
                id: stored.id,
                data: stored.meta.get(codec).clone(),
            })
            .collect(),
    }
}

/// Groups `(key, meta)` pairs by key, keeping first-seen order.
fn group(pairs: &[(String, StoredMeta)], codec: PayloadCodec) -> Vec<PresenceEntry> {
    let mut entries: Vec<PresenceEntry> = Vec::new();
    for (key, stored) in pairs {
        let meta = PresenceMeta {
            id: stored.id,
            data: stored.meta.get(codec).clone(),
        };
        match entries.iter_mut().find(|e| &e.key == key) {
            Some(entry) => entry.metas.push(meta),
            None => entries.push(PresenceEntry {
                key: key.clone(),
                metas: vec![meta],
            }),
        }
    }
    entries
}
