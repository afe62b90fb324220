//! The in-process adapter: every room and all presence live in this node's memory.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use bytes::Bytes;
use quicket_proto::{PayloadCodec, PayloadError, SocketId};

use super::collect::AckCollector;
use super::member::Member;
use super::presence::PresenceStore;
use super::{
    AckOutcome, Adapter, BoxFuture, BroadcastTarget, OutgoingEvent, PresenceAdapter, PresenceHook,
    PresenceKey, Room, SessionLocator, SocketInfo, SocketsOp, StoredMeta, TrackedKey,
};
use crate::endpoint::SessionCore;
use crate::endpoint::channels::ChannelKey;
use crate::endpoint::classes::Delivery;
use crate::error::{JoinError, PresenceError};
use crate::payload::EncodedPayload;

/// Rooms and presence in this process. The default adapter.
///
/// One `RwLock` guards the room index; presence has its own `Mutex`, always taken after the
/// room lock, so that membership and presence change together. Neither is held across an
/// `.await`: a broadcast only pushes shared frames into each recipient's bounded queue.
pub struct LocalAdapter {
    rooms: RwLock<Rooms>,
    presence: Arc<Mutex<PresenceStore>>,
    /// Connected sockets per payload codec.
    codecs: [AtomicUsize; PayloadCodec::COUNT],
}

#[derive(Default)]
struct Rooms {
    members: HashMap<SocketId, Entry>,
    rooms: HashMap<Room, HashMap<SocketId, Member>>,
}

impl Default for LocalAdapter {
    fn default() -> Self {
        Self::new()
    }
}

/// A socket of this node, with the rooms it is in.
struct Entry {
    member: Member,
    rooms: HashSet<Room>,
}

impl LocalAdapter {
    /// An empty adapter.
    pub fn new() -> Self {
        Self::with_presence(0, None)
    }

    /// An empty adapter for one node of a cluster: its presence meta ids start after
    /// `ids_from` (so each node's are its own), and `hook` hears every presence change made
    /// here, to tell the other nodes.
    pub fn clustered(ids_from: u64, hook: PresenceHook) -> Self {
        Self::with_presence(ids_from, Some(hook))
    }

    fn with_presence(ids_from: u64, hook: Option<PresenceHook>) -> Self {
        Self {
            rooms: RwLock::default(),
            presence: Arc::new_cyclic(|me| {
                Mutex::new(PresenceStore::new(ids_from, hook, me.clone()))
            }),
            codecs: Default::default(),
        }
    }

    /// Applies a presence change another node made: `joins` as `(key, meta)`, `leaves` as
    /// `(key, meta id)`. This node's subscribers hear it; the hook does not.
    pub fn apply_remote_presence(
        &self,
        room: &str,
        joins: Vec<(String, StoredMeta)>,
        leaves: &[(String, u64)],
    ) {
        self.store().apply_remote(room, joins, leaves);
    }

    fn read(&self) -> RwLockReadGuard<'_, Rooms> {
        // Each critical section leaves both maps consistent before any call that could panic.
        self.rooms.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Rooms> {
        self.rooms.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn store(&self) -> MutexGuard<'_, PresenceStore> {
        self.presence.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` while `sid` is known to be in `room`, holding the room lock so that
    /// membership cannot change underneath.
    fn as_member<T>(
        &self,
        sid: SocketId,
        room: &str,
        f: impl FnOnce(&Entry, &Room) -> T,
    ) -> Result<T, PresenceError> {
        let rooms = self.read();
        let entry = rooms.members.get(&sid).ok_or(PresenceError::Disconnected)?;
        let room = entry
            .rooms
            .get(room)
            .ok_or_else(|| PresenceError::NotInRoom(room.to_owned()))?;
        Ok(f(entry, room))
    }

    fn codec_count(&self, codec: PayloadCodec) -> &AtomicUsize {
        &self.codecs[codec.index()]
    }

    /// Encodes the event for every codec in use before any lock is taken: the application's
    /// `Serialize` runs outside the room lock, and a payload that fails to encode for one codec
    /// reaches nobody rather than only some.
    fn encode_for_every_codec(&self, event: &OutgoingEvent<'_>) -> Result<(), PayloadError> {
        for codec in PayloadCodec::ALL {
            if self.codec_count(codec).load(Ordering::Relaxed) > 0 {
                event.encoded(codec).map_err(PayloadError::clone)?;
            }
        }
        Ok(())
    }

    /// Calls `visit` once for every socket the target names.
    fn for_each_target(&self, target: &BroadcastTarget, mut visit: impl FnMut(&Member)) {
        let rooms = self.read();
        let excluded = |sid: &SocketId| {
            // The entry is looked up only when some room is left out.
            let entry = (!target.except_rooms.is_empty())
                .then(|| rooms.members.get(sid))
                .flatten();
            target.excludes(*sid, |room| entry.is_some_and(|e| e.rooms.contains(room)))
        };
        match (target.rooms.as_slice(), target.sockets.is_empty()) {
            ([], true) => rooms
                .members
                .iter()
                .filter(|(sid, _)| !excluded(sid))
                .for_each(|(_, entry)| visit(&entry.member)),
            ([room], true) => {
                if let Some(sockets) = rooms.rooms.get(room) {
                    sockets
                        .iter()
                        .filter(|(sid, _)| !excluded(sid))
                        .for_each(|(_, s)| visit(s));
                }
            }
            // A socket's own emit, routed through the adapter: no set to deduplicate.
            ([], false) if target.sockets.len() == 1 => {
                let sid = &target.sockets[0];
                if let Some(entry) = rooms.members.get(sid)
                    && !excluded(sid)
                {
                    visit(&entry.member);
                }
            }
            (many, _) => {
                let mut seen = HashSet::new();
                for sid in &target.sockets {
                    if let Some(entry) = rooms.members.get(sid)
                        && !excluded(sid)
                        && seen.insert(*sid)
                    {
                        visit(&entry.member);
                    }
                }
                for room in many {
                    let Some(sockets) = rooms.rooms.get(room) else {
                        continue;
                    };
                    for (sid, member) in sockets {
                        if !excluded(sid) && seen.insert(*sid) {
                            visit(member);
                        }
                    }
                }
            }
        }
    }
}

/// This node's registry and its share of every broadcast: what [`Adapter`]'s provided methods
/// forward to, and what a cluster adapter calls for this node's part.
impl LocalAdapter {
    /// A socket connected to this node.
    pub fn add_socket(&self, member: Member) {
        self.codec_count(member.codec())
            .fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            member,
            rooms: HashSet::new(),
        };
        self.write().members.insert(entry.member.id(), entry);
    }

    /// A socket disconnected: it leaves every room, and its presence metas go.
    pub fn remove_socket(&self, sid: SocketId) {
        let mut rooms = self.write();
        let Some(entry) = rooms.members.remove(&sid) else {
            return;
        };
        self.codec_count(entry.member.codec())
            .fetch_sub(1, Ordering::Relaxed);
        let mut presence = self.store();
        for room in &entry.rooms {
            presence.remove_socket(room, sid, false);
            if let Some(sockets) = rooms.rooms.get_mut(room) {
                sockets.remove(&sid);
                if sockets.is_empty() {
                    rooms.rooms.remove(room);
                }
            }
        }
    }

    /// A socket of this node by id.
    pub fn member(&self, sid: SocketId) -> Option<Member> {
        self.read().members.get(&sid).map(|e| e.member.clone())
    }

    /// Adds a socket to a room; refuses past `max_rooms` rooms.
    pub fn join(&self, sid: SocketId, room: Room, max_rooms: usize) -> Result<(), JoinError> {
        let mut rooms = self.write();
        let entry = rooms.members.get_mut(&sid).ok_or(JoinError::Disconnected)?;
        if entry.rooms.contains(&room) {
            return Ok(());
        }
        if entry.rooms.len() >= max_rooms {
            return Err(JoinError::TooManyRooms { max: max_rooms });
        }
        entry.rooms.insert(room.clone());
        let member = entry.member.clone();
        rooms.rooms.entry(room).or_default().insert(sid, member);
        Ok(())
    }

    /// Removes a socket from a room, with its presence there.
    pub fn leave(&self, sid: SocketId, room: &str) {
        let mut rooms = self.write();
        let Some(entry) = rooms.members.get_mut(&sid) else {
            return;
        };
        if !entry.rooms.remove(room) {
            return;
        }
        if let Some(sockets) = rooms.rooms.get_mut(room) {
            sockets.remove(&sid);
            if sockets.is_empty() {
                rooms.rooms.remove(room);
            }
        }
        self.store().remove_socket(room, sid, true);
    }

    /// The rooms a socket is in.
    pub fn rooms_of(&self, sid: SocketId) -> Vec<Room> {
        self.read()
            .members
            .get(&sid)
            .map(|m| m.rooms.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether at least one socket of this node is in `room`.
    pub fn has_room(&self, room: &str) -> bool {
        self.read().rooms.contains_key(room)
    }

    /// Every room with at least one socket of this node in it.
    pub fn rooms(&self) -> BoxFuture<'_, Vec<Room>> {
        let rooms = self.read().rooms.keys().cloned().collect();
        Box::pin(std::future::ready(rooms))
    }

    /// How many of this node's sockets the target names.
    pub fn targeted(&self, target: &BroadcastTarget) -> usize {
        let mut count = 0;
        self.for_each_target(target, |_| count += 1);
        count
    }

    /// The connected sockets the target names.
    pub fn sockets(&self, target: &BroadcastTarget) -> BoxFuture<'_, Vec<Member>> {
        Box::pin(std::future::ready(self.connected(target)))
    }

    /// The targeted sockets still connected: one whose disconnect handler is running is in
    /// its rooms, but gone.
    fn connected(&self, target: &BroadcastTarget) -> Vec<Member> {
        let mut members = Vec::new();
        self.for_each_target(target, |member| {
            if member.connected() {
                members.push(member.clone());
            }
        });
        members
    }

    /// Delivers an event to every socket the target names; returns how many it reached.
    pub fn broadcast(&self, target: &BroadcastTarget, event: &OutgoingEvent<'_>) -> usize {
        if self.encode_for_every_codec(event).is_err() {
            return 0;
        }
        let (mut reached, mut bytes, mut meters) = (0, 0, None);
        let now = std::time::Instant::now();
        // A room's events keep to the channel of the first room named (PROTOCOL.md 2.2).
        let channel = target.rooms.first().map(|room| ChannelKey::of(room));
        let ordered = *event.delivery() == Delivery::Ordered;
        self.for_each_target(target, |member| {
            let core = member.core();
            // The default class is the hot path: one push, no class to weigh.
            let sent = if ordered {
                let frame = event.frame(member.codec()).ok();
                frame
                    .filter(|frame| {
                        core.send_event_at(Bytes::clone(frame), now, channel)
                            .is_ok()
                    })
                    .map(Bytes::len)
            } else {
                core.send_outgoing(event, now, channel).ok().flatten()
            };
            if let Some(size) = sent {
                reached += 1;
                bytes += size;
                // Every socket of a server shares them: counted once, not per recipient.
                meters.get_or_insert_with(|| Arc::clone(&core.meters));
            }
        });
        match meters {
            Some(meters) => {
                let class = SessionCore::class_of(event.delivery());
                meters.events_out(class, reached, bytes);
                meters.broadcast(reached);
            }
            None => crate::meters::broadcast_to_none(),
        }
        reached
    }

    /// Delivers an event asking every socket for an ack, and collects the replies until
    /// `timeout`.
    pub fn broadcast_with_ack(
        &self,
        target: &BroadcastTarget,
        event: &OutgoingEvent<'_>,
        timeout: Duration,
    ) -> BoxFuture<'static, Vec<AckOutcome>> {
        if self.encode_for_every_codec(event).is_err() {
            return Box::pin(std::future::ready(Vec::new()));
        }
        let mut recipients = Vec::new();
        self.for_each_target(target, |member| recipients.push(member.clone()));
        match recipients.first() {
            Some(member) => member.core().meters.broadcast(recipients.len()),
            None => crate::meters::broadcast_to_none(),
        }
        let Some(id) = event.ack_id() else {
            return Box::pin(std::future::ready(Vec::new()));
        };
        Box::pin(AckCollector::send(id, recipients, event, timeout).collect())
    }

    /// The targeted sockets of this node, described.
    pub fn fetch_sockets(&self, target: &BroadcastTarget) -> BoxFuture<'_, Vec<SocketInfo>> {
        let described = self
            .connected(target)
            .into_iter()
            .map(|m| SocketInfo::new(m.id(), self.rooms_of(m.id()), m.data()))
            .collect();
        Box::pin(std::future::ready(described))
    }

    /// Applies `op` to every targeted socket of this node.
    pub fn sockets_op(&self, target: &BroadcastTarget, op: SocketsOp) -> BoxFuture<'_, ()> {
        let members = self.connected(target);
        Box::pin(async move { members.iter().for_each(|member| member.apply(&op)) })
    }
}

impl Adapter for LocalAdapter {
    fn local(&self) -> &LocalAdapter {
        self
    }
}

/// A single node holds every session it issued: nothing to record or relay.
impl SessionLocator for LocalAdapter {}

/// Overrides every method: the provided ones forward here.
impl PresenceAdapter for LocalAdapter {
    fn local_presence(&self) -> &LocalAdapter {
        self
    }

    fn track(
        &self,
        room: &str,
        key: &str,
        sid: SocketId,
        meta: EncodedPayload,
    ) -> Result<(), PresenceError> {
        self.as_member(sid, room, |entry, room| {
            let limits = entry.member.owner().presence_limits();
            self.store().track(room, key, sid, meta, &limits)
        })?
    }

    fn untrack(&self, room: &str, key: &str, sid: SocketId) {
        let _membership = self.read();
        self.store().untrack(room, key, sid);
    }

    fn forget(&self, sid: SocketId) -> Vec<TrackedKey> {
        let rooms = self.read();
        let Some(entry) = rooms.members.get(&sid) else {
            return Vec::new();
        };
        let mut presence = self.store();
        let mut forgotten = Vec::new();
        for room in &entry.rooms {
            let keys = presence.remove_socket(room, sid, false);
            forgotten.extend(
                keys.into_iter()
                    .map(|(key, meta)| TrackedKey::new(room.clone(), key, meta)),
            );
        }
        forgotten
    }

    fn subscribe(&self, room: &str, sid: SocketId) -> Result<(), PresenceError> {
        self.as_member(sid, room, |entry, room| {
            self.store().subscribe(room, &entry.member)
        })?
        .map_err(PresenceError::Emit)
    }

    fn unsubscribe(&self, room: &str, sid: SocketId, notify: bool) {
        let _membership = self.read();
        self.store().unsubscribe(room, sid, notify);
    }

    fn list(&self, room: &str) -> BoxFuture<'_, Vec<PresenceKey>> {
        Box::pin(std::future::ready(self.store().list(room)))
    }

    fn count(&self, room: &str, key: &str) -> BoxFuture<'_, usize> {
        Box::pin(std::future::ready(self.store().count(room, key)))
    }
}
