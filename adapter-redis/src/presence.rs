//! Presence across the cluster: each room's metas live in a Redis hash (meta id → meta,
//! tagged with its node), every node mirrors them into its local store, and subscribers on
//! any node see the whole cluster.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use quicket_core::adapter::{PresenceAdapter, PresenceKey, StoredMeta};
use redis::AsyncCommands;

use crate::bus::ConnectError;
use crate::node::{Inner, lock};
use crate::wire::{self, Envelope, Meta, PresenceDiff, kind};

/// Bits of a meta id counted by its node; the bits above are the node's tag.
const COUNTER_BITS: u32 = 40;

/// The first meta id of `node`: its tag in the top bits.
pub(crate) fn tag_base(node: u64) -> u64 {
    (node >> COUNTER_BITS) << COUNTER_BITS
}

/// Whether meta `id` was made by `node`.
fn made_by(id: u64, node: u64) -> bool {
    id >> COUNTER_BITS == node >> COUNTER_BITS
}

/// Applies a diff another node made. A node mirrors only the rooms it has members in; a diff
/// for another room (or one on its way as the last member left) is dropped.
pub(crate) fn apply(node: &Inner, diff: PresenceDiff) {
    if !node.local.has_room(&diff.room) {
        return;
    }
    lock(&node.presence_rooms).insert(diff.room.clone());
    let joins = diff
        .joins
        .iter()
        .map(|meta| (meta.key.clone(), meta.stored()))
        .collect();
    node.local
        .apply_remote_presence(&diff.room, joins, &diff.leaves);
}

/// Mirrors `room`'s presence from Redis, as this node's first socket joins it. Diffs told
/// from then on arrive too (on a Cluster, the node listens on the room's channel first), and
/// applying one twice changes nothing.
pub(crate) async fn load_room(node: &Arc<Inner>, room: &str) -> Result<(), ConnectError> {
    mirror(node, room, &mut HashMap::new()).await
}

/// Stops mirroring `room`, as this node's last socket left it: the other nodes' metas go
/// (this node has no subscriber there to tell).
pub(crate) async fn drop_room(node: &Arc<Inner>, room: &str) {
    let leaves: Vec<(String, u64)> = PresenceAdapter::list(&node.local, room)
        .await
        .into_iter()
        .flat_map(|key| {
            key.metas
                .into_iter()
                .filter(|meta| !made_by(meta.id, node.node))
                .map(move |meta| (key.key.clone(), meta.id))
        })
        .collect();
    node.local.apply_remote_presence(room, Vec::new(), &leaves);
}

/// Mirrors the metas Redis holds for `room` whose node is alive (`alive` caches the
/// answers), and deletes the others.
async fn mirror(
    node: &Arc<Inner>,
    room: &str,
    alive: &mut HashMap<u64, bool>,
) -> Result<(), ConnectError> {
    let mut conn = node.bus.conn.clone();
    let mut joins = Vec::new();
    let mut dead = Vec::new();
    for meta in stored(node, room).await? {
        if meta.node == node.node {
            continue;
        }
        let live = match alive.get(&meta.node) {
            Some(live) => *live,
            None => {
                let live: bool = conn.exists(node.bus.keys.node_key(meta.node)).await?;
                alive.insert(meta.node, live);
                live
            }
        };
        if live {
            joins.push((meta.key.clone(), meta.stored()));
        } else {
            dead.push(meta.id);
        }
    }
    if !dead.is_empty() {
        let _: () = conn.hdel(node.bus.keys.presence(room), dead).await?;
    }
    if !joins.is_empty() {
        lock(&node.presence_rooms).insert(room.to_owned());
        node.local.apply_remote_presence(room, joins, &[]);
    }
    Ok(())
}

/// `room`'s presence as Redis holds it, the metas of the other nodes alive: for a room this
/// node does not mirror. This node has no member there, so its own metas still in Redis are
/// leaves its writer has not sent yet. Empty when Redis cannot be read.
pub(crate) async fn read(node: &Inner, room: &str) -> Vec<PresenceKey> {
    let alive = node.peers.alive(node.silence());
    let mut keys: BTreeMap<String, Vec<StoredMeta>> = BTreeMap::new();
    for meta in stored(node, room).await.unwrap_or_default() {
        if meta.node != node.node && alive.contains(&meta.node) {
            keys.entry(meta.key.clone())
                .or_default()
                .push(meta.stored());
        }
    }
    keys.into_iter()
        .map(|(key, metas)| PresenceKey::new(key, metas))
        .collect()
}

/// The metas stored in Redis for `room`.
async fn stored(node: &Inner, room: &str) -> Result<Vec<Meta>, ConnectError> {
    let mut conn = node.bus.conn.clone();
    let fields: HashMap<u64, Vec<u8>> = conn.hgetall(node.bus.keys.presence(room)).await?;
    Ok(fields
        .values()
        .filter_map(|bytes| wire::decode::<Meta>(bytes).ok())
        .collect())
}

/// The rooms with presence, here or in Redis.
async fn rooms(node: &Inner) -> Vec<String> {
    let mut rooms: HashSet<String> = lock(&node.presence_rooms).clone();
    let mut conn = node.bus.conn.clone();
    let stored: redis::RedisResult<Vec<String>> =
        conn.smembers(node.bus.keys.presence_rooms()).await;
    rooms.extend(stored.unwrap_or_default());
    rooms.into_iter().collect()
}

/// The metas of `room` that `of` made, as this node mirrors them.
async fn mirrored(node: &Inner, room: &str, of: u64) -> Vec<(String, StoredMeta)> {
    PresenceAdapter::list(&node.local, room)
        .await
        .into_iter()
        .flat_map(|key| {
            key.metas
                .into_iter()
                .filter(|meta| made_by(meta.id, of))
                .map(move |meta| (key.key.clone(), meta))
        })
        .collect()
}

/// Makes this node's mirror of `of`'s metas match Redis, in the rooms it mirrors: after `of`
/// rewrote them.
pub(crate) async fn reload_node(node: Arc<Inner>, of: u64) {
    for room in rooms(&node).await {
        if !node.local.has_room(&room) {
            continue;
        }
        let Ok(metas) = stored(&node, &room).await else {
            return;
        };
        let wanted: HashMap<u64, Meta> = metas
            .into_iter()
            .filter(|meta| meta.node == of)
            .map(|meta| (meta.id, meta))
            .collect();
        let present = mirrored(&node, &room, of).await;
        let present_ids: HashSet<u64> = present.iter().map(|(_, meta)| meta.id).collect();
        let leaves: Vec<(String, u64)> = present
            .into_iter()
            .filter(|(_, meta)| !wanted.contains_key(&meta.id))
            .map(|(key, meta)| (key, meta.id))
            .collect();
        let joins = wanted
            .values()
            .filter(|meta| !present_ids.contains(&meta.id))
            .map(|meta| (meta.key.clone(), meta.stored()))
            .collect();
        node.local.apply_remote_presence(&room, joins, &leaves);
    }
}

/// Removes `of`'s metas from this node's mirror; its subscribers hear the leaves.
pub(crate) fn remove_node_here(node: &Arc<Inner>, of: u64) {
    let node = node.clone();
    tokio::spawn(async move {
        let rooms: Vec<String> = lock(&node.presence_rooms).iter().cloned().collect();
        for room in rooms {
            forget_in(&node, &room, of).await;
        }
    });
}

async fn forget_in(node: &Inner, room: &str, of: u64) -> Vec<u64> {
    let leaves: Vec<(String, u64)> = mirrored(node, room, of)
        .await
        .into_iter()
        .map(|(key, meta)| (key, meta.id))
        .collect();
    node.local.apply_remote_presence(room, Vec::new(), &leaves);
    leaves.into_iter().map(|(_, id)| id).collect()
}

/// A node died: its metas leave this node's mirror and Redis.
pub(crate) async fn remove_node(node: &Arc<Inner>, of: u64) {
    let mut conn = node.bus.conn.clone();
    for room in rooms(node).await {
        forget_in(node, &room, of).await;
        // Every survivor deletes; HDEL of a missing field is harmless.
        let Ok(metas) = stored(node, &room).await else {
            continue;
        };
        let ids: Vec<u64> = metas
            .iter()
            .filter(|meta| meta.node == of)
            .map(|meta| meta.id)
            .collect();
        if !ids.is_empty() {
            let _: redis::RedisResult<()> = conn.hdel(node.bus.keys.presence(&room), ids).await;
        }
    }
}

/// Writes this node's metas back into Redis (which may have restarted empty, or missed
/// changes while this node was cut off), then tells the others to reload them.
pub(crate) async fn rewrite_own(node: Arc<Inner>) {
    let rooms: Vec<String> = lock(&node.presence_rooms).iter().cloned().collect();
    for room in rooms {
        let own = mirrored(&node, &room, node.node).await;
        let hash = node.bus.keys.presence(&room);
        let mut commands = node.bus.conn.batch();
        let pipe = commands.on(&hash);
        if let Ok(stored) = stored(&node, &room).await {
            let keep: HashSet<u64> = own.iter().map(|(_, meta)| meta.id).collect();
            for meta in stored
                .iter()
                .filter(|m| m.node == node.node && !keep.contains(&m.id))
            {
                pipe.hdel(&hash, meta.id).ignore();
            }
        }
        for (key, meta) in &own {
            if let Ok(bytes) = wire::encode(&Meta::of(key, meta, node.node)) {
                pipe.hset(&hash, meta.id, bytes.as_ref()).ignore();
            }
        }
        if !own.is_empty() {
            let rooms = node.bus.keys.presence_rooms();
            commands.on(&rooms).sadd(&rooms, &room).ignore();
        }
        if let Err(err) = commands.send(&node.bus.conn).await {
            tracing::warn!(%err, "could not rewrite this node's presence; the next reconnect will");
            return;
        }
    }
    node.bus
        .to_everyone(&Envelope::empty(kind::PRESENCE_RESYNC, node.node), false);
}

/// Deletes this node's metas from Redis, as it leaves the cluster.
pub(crate) async fn remove_own(node: &Arc<Inner>) {
    let mut conn = node.bus.conn.clone();
    let rooms: Vec<String> = lock(&node.presence_rooms).iter().cloned().collect();
    for room in rooms {
        let ids: Vec<u64> = mirrored(node, &room, node.node)
            .await
            .into_iter()
            .map(|(_, meta)| meta.id)
            .collect();
        if !ids.is_empty() {
            let _: redis::RedisResult<()> = conn.hdel(node.bus.keys.presence(&room), ids).await;
        }
    }
}
