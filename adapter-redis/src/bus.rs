//! The node's link to Redis: one managed connection that reconnects and resubscribes on its
//! own, carrying commands, publishes and (as RESP3 pushes) the subscribed channels; and the
//! one task that writes to it, so what a node publishes on a channel arrives everywhere in
//! its order.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use quicket_core::SocketId;
use quicket_core::adapter::PresenceChange;
use redis::PushInfo;
use tokio::sync::{mpsc, oneshot};

use crate::config::{Deployment, RedisConfig};
use crate::health::HealthState;
use crate::link::{Batch, Link};
use crate::wire::{self, Envelope, Meta, PresenceDiff, kind};

/// Messages the writer sends at most in one round trip.
const BATCH: usize = 256;

/// Key and channel names under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// The channel every node listens on.
    pub(crate) fn everyone(&self) -> String {
        format!("{}#all", self.prefix)
    }

    /// The channel of one room's broadcasts and presence diffs, on a Cluster: only nodes
    /// with members in the room listen on it. Its hash tag is the room's name, so it lives on
    /// the shard of the room's presence hash, and a diff is told after its write.
    pub(crate) fn room_channel(&self, room: &str) -> String {
        format!("{}#room#{{{room}}}", self.prefix)
    }

    /// Where a broadcast or presence diff for `room` goes: the room's channel on a Cluster
    /// (`sharded`), the channel every node listens on otherwise.
    pub(crate) fn for_room(&self, room: &str, sharded: bool) -> String {
        if sharded {
            self.room_channel(room)
        } else {
            self.everyone()
        }
    }

    /// The channel of one node: replies to its questions.
    pub(crate) fn node_channel(&self, node: u64) -> String {
        format!("{}#node#{node:016x}", self.prefix)
    }

    /// The key whose presence says a node is alive; it expires after the TTL.
    pub(crate) fn node_key(&self, node: u64) -> String {
        format!("{}:node:{node:016x}", self.prefix)
    }

    /// The hash of a room's presence: meta id → [`Meta`]. Tagged with the room's name, as
    /// its channel is.
    pub(crate) fn presence(&self, room: &str) -> String {
        format!("{}:presence:{{{room}}}", self.prefix)
    }

    /// The durable log: a stream of every reliable broadcast, in delivery order. It, its
    /// newest id and its channel share a hash tag, so that on a Cluster one script on one
    /// shard appends and tells.
    pub(crate) fn durable_log(&self) -> String {
        format!("{{{}:log}}", self.prefix)
    }

    /// The id of the durable log's newest entry, which each new entry names as its
    /// predecessor so that a node can tell when it missed one.
    pub(crate) fn durable_last(&self) -> String {
        format!("{{{}:log}}:last", self.prefix)
    }

    /// The channel on which each entry of the durable log is told, as it is appended.
    pub(crate) fn durable_channel(&self) -> String {
        format!("{{{}:log}}#told", self.prefix)
    }

    /// A session's anchors in the durable log.
    pub(crate) fn durable_session(&self, sid: &SocketId) -> String {
        format!("{}:durable:{sid}", self.prefix)
    }

    /// The set of rooms that have (or had) presence.
    pub(crate) fn presence_rooms(&self) -> String {
        format!("{}:presence-rooms", self.prefix)
    }
}

/// Something for the writer to send.
pub(crate) enum Outgoing {
    /// An encoded [`Envelope`] for a channel. A lost `broadcast` is counted.
    Publish {
        channel: String,
        message: Bytes,
        broadcast: bool,
    },
    /// A presence change made on this node: written to the room's hash, then told.
    Presence(PresenceChange),
    /// Records that this node holds session `sid`, which a resume token names, for `ttl_ms`.
    SessionHeld {
        key: String,
        sid: SocketId,
        ttl_ms: u64,
    },
    /// An encoded [`Envelope`] for the durable log: appended, then told to every node.
    Durable(Bytes),
    /// Deletes a session record.
    SessionGone { key: String },
    /// Answered once what was queued before it has been sent (or dropped, Redis away).
    Fence(oneshot::Sender<()>),
}

/// What a node's adapter holds of its link.
pub(crate) struct Bus {
    pub(crate) conn: Link,
    pub(crate) keys: Keys,
    outgoing: mpsc::Sender<Outgoing>,
    health: Arc<HealthState>,
}

/// Why the link could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL does not name a Redis server.
    #[error("not a Redis URL: {0}")]
    Url(String),
    /// Redis could not be reached, or refused a command.
    #[error("Redis: {0}")]
    Redis(String),
}

impl From<redis::RedisError> for ConnectError {
    fn from(err: redis::RedisError) -> Self {
        Self::Redis(err.to_string())
    }
}

impl Bus {
    /// Connects, subscribes to this node's channels, and starts the writer. Pushes from Redis
    /// arrive on the returned receiver.
    pub(crate) async fn connect(
        deployment: &Deployment,
        config: &RedisConfig,
        node: u64,
        health: Arc<HealthState>,
    ) -> Result<(Self, mpsc::Receiver<PushInfo>), ConnectError> {
        let (pushes, inbound) = mpsc::channel(config.inbound_queue.max(1));
        let counted = health.clone();
        let sender = move |push: PushInfo| -> Result<(), ()> {
            if pushes.try_send(push).is_err() {
                counted.dropped_inbound.fetch_add(1, Ordering::Relaxed);
                counted.broke();
            }
            Ok(())
        };
        let mut conn = match deployment {
            Deployment::Single(url) => Link::single(url, sender).await?,
            Deployment::Cluster(seeds) => Link::cluster(seeds, sender).await?,
        };
        let keys = Keys::new(&config.prefix);
        conn.subscribe(&keys.everyone()).await?;
        conn.subscribe(&keys.node_channel(node)).await?;
        let (outgoing, queue) = mpsc::channel(config.outbound_queue.max(1));
        if config.durable_recovery {
            conn.subscribe(&keys.durable_channel()).await?;
        }
        let log_len = config.durable_log_len;
        tokio::spawn(write(
            conn.clone(),
            queue,
            (keys.clone(), log_len),
            node,
            health.clone(),
        ));
        let bus = Self {
            conn,
            keys,
            outgoing,
            health,
        };
        Ok((bus, inbound))
    }

    /// Publishes an envelope to every node; a lost `broadcast` is counted.
    pub(crate) fn to_everyone(&self, envelope: &Envelope, broadcast: bool) {
        self.publish(self.keys.everyone(), envelope, broadcast);
    }

    /// Publishes a broadcast to the nodes with members in `room`: on a Cluster, the room's
    /// channel; on one Redis, every node's.
    pub(crate) fn to_room(&self, room: &str, envelope: &Envelope) {
        self.publish(
            self.keys.for_room(room, self.conn.sharded()),
            envelope,
            true,
        );
    }

    /// Publishes an envelope to one node; `false` when it could not be queued.
    pub(crate) fn to_node(&self, node: u64, envelope: &Envelope) -> bool {
        self.publish(self.keys.node_channel(node), envelope, false)
    }

    fn publish(&self, channel: String, envelope: &Envelope, broadcast: bool) -> bool {
        let message = match wire::encode(envelope) {
            Ok(message) => message,
            Err(err) => {
                tracing::error!(%err, "a cluster message did not encode");
                return false;
            }
        };
        let sent = self.outgoing.try_send(Outgoing::Publish {
            channel,
            message,
            broadcast,
        });
        if sent.is_err() {
            self.health.broke();
            if broadcast {
                self.health.lost_broadcasts.fetch_add(1, Ordering::Relaxed);
            }
        }
        sent.is_ok()
    }

    /// Appends an envelope to the durable log, which tells every node; a lost one is
    /// counted as a lost broadcast.
    pub(crate) fn to_durable_log(&self, envelope: &Envelope) {
        let message = match wire::encode(envelope) {
            Ok(message) => message,
            Err(err) => {
                tracing::error!(%err, "a durable broadcast did not encode");
                return;
            }
        };
        if self.outgoing.try_send(Outgoing::Durable(message)).is_err() {
            self.health.broke();
            self.health.lost_broadcasts.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Queues a session record's write or deletion.
    pub(crate) fn session(&self, record: Outgoing) {
        let _lost_with_a_full_queue = self.outgoing.try_send(record);
    }

    /// Waits until the writer has handled everything queued before the call: sent it, or
    /// dropped it while Redis was away.
    pub(crate) async fn flushed(&self) {
        let (done, handled) = oneshot::channel();
        if self.outgoing.send(Outgoing::Fence(done)).await.is_ok() {
            // The writer ends only with the link; then there is nothing left to wait for.
            let _ = handled.await;
        }
    }

    /// Where the presence changes this node makes go: to Redis and the other nodes.
    pub(crate) fn presence_sink(&self) -> PresenceSink {
        PresenceSink(self.outgoing.clone())
    }
}

/// Queues presence changes for the writer, from under the presence lock: never blocks.
pub(crate) struct PresenceSink(mpsc::Sender<Outgoing>);

impl PresenceSink {
    pub(crate) fn send(&self, change: PresenceChange) {
        if self.0.try_send(Outgoing::Presence(change)).is_err() {
            // The resync after the next reconnect repairs what Redis missed.
            tracing::warn!("the cluster queue is full: a presence change was not told");
        }
    }
}

/// Sends what is queued, in order, a batch per round trip. While Redis is away, what would be
/// sent is dropped (and broadcasts counted) rather than queued: presence is repaired by the
/// resync that follows the reconnect, and questions to other nodes time out.
async fn write(
    conn: Link,
    mut queue: mpsc::Receiver<Outgoing>,
    (keys, log_len): (Keys, usize),
    node: u64,
    health: Arc<HealthState>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        let broadcasts = batch
            .iter()
            .filter(|out| {
                matches!(
                    out,
                    Outgoing::Publish {
                        broadcast: true,
                        ..
                    } | Outgoing::Durable(_)
                )
            })
            .count() as u64;
        if !health.is_up() {
            health
                .lost_broadcasts
                .fetch_add(broadcasts, Ordering::Relaxed);
            batch.clear();
            continue;
        }
        let mut fences = Vec::new();
        let mut commands = conn.batch();
        for out in batch.drain(..) {
            match out {
                Outgoing::Publish {
                    channel, message, ..
                } => {
                    commands.add(&channel, conn.publish(&channel, &message));
                }
                Outgoing::Presence(change) => {
                    add_presence(&mut commands, &conn, &keys, node, &change);
                }
                Outgoing::SessionHeld { key, sid, ttl_ms } => {
                    let holder = format!("{node:016x} {sid}");
                    commands.on(&key).pset_ex(&key, holder, ttl_ms).ignore();
                }
                Outgoing::Durable(message) => {
                    let sharded = conn.sharded();
                    crate::durable::append(&mut commands, &keys, log_len, &message, sharded);
                }
                Outgoing::SessionGone { key } => {
                    commands.on(&key).del(&key).ignore();
                }
                Outgoing::Fence(done) => fences.push(done),
            }
        }
        let started = Instant::now();
        match commands.send(&conn).await {
            Ok(()) => crate::meters::published(started.elapsed()),
            Err(err) => {
                health.down(&err);
                health
                    .lost_broadcasts
                    .fetch_add(broadcasts, Ordering::Relaxed);
            }
        }
        for done in fences {
            let _ = done.send(());
        }
    }
}

/// The commands that store a presence change and tell it.
fn add_presence(
    commands: &mut Batch,
    conn: &Link,
    keys: &Keys,
    node: u64,
    change: &PresenceChange,
) {
    let room = change.room.as_str();
    let hash = keys.presence(room);
    let diff = PresenceDiff {
        room: room.to_owned(),
        joins: change
            .joins
            .iter()
            .map(|(key, stored)| Meta::of(key, stored, node))
            .collect(),
        leaves: change
            .leaves
            .iter()
            .map(|(key, stored)| (key.clone(), stored.id))
            .collect(),
    };
    let pipe = commands.on(&hash);
    for meta in &diff.joins {
        if let Ok(bytes) = wire::encode(meta) {
            pipe.hset(&hash, meta.id, bytes.as_ref()).ignore();
        }
    }
    for (_, id) in &diff.leaves {
        pipe.hdel(&hash, *id).ignore();
    }
    if !diff.joins.is_empty() {
        let rooms = keys.presence_rooms();
        commands.on(&rooms).sadd(&rooms, room).ignore();
    }
    match Envelope::new(kind::PRESENCE, node, &diff).and_then(|e| wire::encode(&e)) {
        Ok(message) => {
            let channel = keys.for_room(room, conn.sharded());
            commands.add(&channel, conn.publish(&channel, &message));
        }
        Err(err) => tracing::error!(%err, "a presence change did not encode"),
    }
}
