//! One node of the cluster: its link to Redis, its local adapter, and the tasks that keep
//! it in touch with the others.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use quicket_core::LocalAdapter;
use quicket_core::adapter::{OutgoingEvent, PresenceChange};
use redis::{AsyncCommands, PushInfo, PushKind};
use tokio::sync::mpsc;

use crate::bus::{Bus, ConnectError};
use crate::cluster::{Peers, Requests};
use crate::config::{Deployment, RedisConfig};
use crate::durable::{self, Durable};
use crate::events::ServerEvents;
use crate::health::{Health, HealthState};
use crate::interest::{self, Interest};
use crate::presence;
use crate::relay::{self, Relays};
use crate::wire::{self, Answer, Ask, Broadcast, Envelope, Outcome, Reply, Request, kind};

/// A cluster adapter on Redis. Cheap to clone; every clone is the same node.
///
/// Give it to [`ServerBuilder::adapter`](quicket_core::ServerBuilder::adapter). Keep
/// a clone for [`RedisAdapter::health`], server-side events and [`RedisAdapter::close`].
#[derive(Clone)]
pub struct RedisAdapter {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) node: u64,
    pub(crate) config: RedisConfig,
    pub(crate) local: LocalAdapter,
    pub(crate) bus: Bus,
    pub(crate) health: Arc<HealthState>,
    pub(crate) peers: Peers,
    pub(crate) requests: Requests,
    pub(crate) events: ServerEvents,
    /// Rooms with presence here, this node's or another's.
    pub(crate) presence_rooms: Arc<Mutex<HashSet<String>>>,
    /// Connections relayed through this node, either end.
    pub(crate) relays: Relays,
    /// The rooms this node follows: their presence, and on a Cluster their channels.
    pub(crate) interest: Arc<Interest>,
    /// The durable log, with durable recovery on.
    pub(crate) durable: Option<Arc<Durable>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.interest.wake();
        if let Some(durable) = &self.durable {
            durable.close();
        }
    }
}

impl RedisAdapter {
    /// Joins the cluster on the Redis at `url` (`redis://host:port/db`), with the default
    /// configuration.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        Self::connect_with(url, RedisConfig::default()).await
    }

    /// Joins the cluster on the Redis at `url` with `config`.
    pub async fn connect_with(url: &str, config: RedisConfig) -> Result<Self, ConnectError> {
        Self::join(Deployment::Single(url.to_owned()), config).await
    }

    /// Joins the cluster on a Redis Cluster (Redis 7 or later), found through `seeds`: the
    /// URLs of one or more of its nodes (`redis://host:port`).
    ///
    /// Pub/sub is sharded (`SPUBLISH`, `SSUBSCRIBE`): a broadcast to one room, and the
    /// room's presence diffs, go on that room's channel, which lives on the shard of its hash
    /// slot, and a node listens only on the channels of rooms it has members in. Everything
    /// else (broadcasts to several rooms or to all, questions, heartbeats) goes on one channel
    /// every node listens on. A join takes effect for other nodes' broadcasts once this node listens on
    /// the room's channel, one round trip to its shard later: see
    /// [`RedisAdapter::subscriptions_settled`].
    pub async fn connect_cluster(
        seeds: &[&str],
        config: RedisConfig,
    ) -> Result<Self, ConnectError> {
        let seeds = seeds.iter().map(|seed| (*seed).to_owned()).collect();
        Self::join(Deployment::Cluster(seeds), config).await
    }

    async fn join(deployment: Deployment, config: RedisConfig) -> Result<Self, ConnectError> {
        let node = node_id();
        let health = Arc::new(HealthState::new());
        let (bus, inbound) = Bus::connect(&deployment, &config, node, health.clone()).await?;
        let durable = if config.durable_recovery {
            // This node starts after the newest entry: it has no sessions yet.
            let newest = durable::newest(&mut bus.conn.clone(), &bus.keys).await?;
            Some(Durable::new(newest, bus.keys.durable_channel()))
        } else {
            None
        };
        let presence_rooms = Arc::new(Mutex::new(HashSet::new()));
        let hook = {
            let sink = bus.presence_sink();
            let rooms = presence_rooms.clone();
            Box::new(move |change: PresenceChange| {
                let mut known = lock(&rooms);
                if !known.contains(change.room.as_str()) {
                    known.insert(change.room.as_str().to_owned());
                }
                drop(known);
                sink.send(change);
            })
        };
        // Each node's meta ids carry its tag in their top bits, so ids never collide across
        // nodes and a meta's node can be told from its id.
        let local = LocalAdapter::clustered(presence::tag_base(node), hook);
        let inner = Arc::new(Inner {
            node,
            config,
            local,
            bus,
            health,
            peers: Peers::default(),
            requests: Requests::default(),
            events: ServerEvents::default(),
            presence_rooms,
            relays: Relays::default(),
            interest: Arc::new(Interest::default()),
            durable: durable.as_ref().map(|(durable, _)| durable.clone()),
        });
        if let Some((durable, told)) = durable {
            let weak = Arc::downgrade(&inner);
            tokio::spawn(durable::deliver(weak.clone(), durable.clone(), told));
            tokio::spawn(durable::write_anchors(weak.clone(), durable.clone()));
            tokio::spawn(durable::refresh(weak, durable));
        }
        inner.beat().await?;
        tokio::spawn(dispatch(Arc::downgrade(&inner), inbound));
        tokio::spawn(heartbeat(Arc::downgrade(&inner)));
        tokio::spawn(break_relays(Arc::downgrade(&inner)));
        let interest = inner.interest.clone();
        tokio::spawn(interest::follow(Arc::downgrade(&inner), interest));
        Ok(Self { inner })
    }

    /// Waits until this node follows every room its sockets joined before the call: it has
    /// loaded the room's presence, and on a Redis Cluster it listens on the room's channel, so
    /// that other nodes' broadcasts to the room reach its sockets (one round trip per room
    /// newly joined). It waits while Redis is away. Then it waits for what this node queued
    /// for Redis before the call (presence tracked, broadcasts) to be sent, so that every
    /// other node lists the presence tracked here.
    pub async fn subscriptions_settled(&self) {
        self.inner.interest.settled().await;
        self.inner.bus.flushed().await;
    }

    /// This node's id in the cluster.
    pub fn node(&self) -> u64 {
        self.inner.node
    }

    /// Whether this node reaches Redis, and what it lost while it did not.
    pub fn health(&self) -> Health {
        let peers = self.inner.peers.alive(self.inner.silence()).len();
        self.inner.health.snapshot(self.inner.node, peers)
    }

    /// Watches this node's health: wakes when Redis is lost or back, or a node is first heard
    /// from or counted gone.
    pub fn watch_health(&self) -> HealthWatch {
        HealthWatch {
            adapter: self.clone(),
            changes: self.inner.health.changes(),
        }
    }

    /// Leaves the cluster cleanly: this node's presence leaves Redis and the others forget
    /// the node at once instead of after the TTL. Call it after the server's shutdown.
    pub async fn close(&self) {
        presence::remove_own(&self.inner).await;
        let mut conn = self.inner.bus.conn.clone();
        let _: redis::RedisResult<()> = conn
            .del(self.inner.bus.keys.node_key(self.inner.node))
            .await;
        let goodbye = Envelope::empty(kind::GOODBYE, self.inner.node);
        if let Ok(message) = wire::encode(&goodbye) {
            let publish = conn.publish(&self.inner.bus.keys.everyone(), &message);
            let _: redis::RedisResult<()> = publish.query_async(&mut conn).await;
        }
    }
}

/// A watch on a node's [`Health`], from [`RedisAdapter::watch_health`].
pub struct HealthWatch {
    adapter: RedisAdapter,
    changes: tokio::sync::watch::Receiver<u64>,
}

impl HealthWatch {
    /// The health now.
    pub fn health(&self) -> Health {
        self.adapter.health()
    }

    /// Waits for the next change since this watch was made or last woke. Read the health
    /// before waiting: a change in between is not missed.
    pub async fn changed(&mut self) {
        if self.changes.changed().await.is_err() {
            // The node is gone: nothing will change any more.
            std::future::pending::<()>().await;
        }
    }
}

impl std::fmt::Debug for HealthWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthWatch").finish_non_exhaustive()
    }
}

impl Inner {
    /// Says this node is alive: its key, renewed for one TTL, and a heartbeat message.
    async fn beat(&self) -> Result<(), ConnectError> {
        let ttl = u64::try_from(self.config.node_ttl.as_millis()).unwrap_or(u64::MAX);
        let beat = Envelope::empty(kind::HEARTBEAT, self.node);
        let message = wire::encode(&beat).map_err(|err| ConnectError::Redis(err.to_string()))?;
        let conn = &self.bus.conn;
        let (key, everyone) = (self.bus.keys.node_key(self.node), self.bus.keys.everyone());
        let mut commands = conn.batch();
        commands.on(&key).pset_ex(&key, 1, ttl).ignore();
        commands.add(&everyone, conn.publish(&everyone, &message));
        commands.send(conn).await?;
        Ok(())
    }

    /// Makes every subscription again, on a Cluster after an outage. A failure is an outage
    /// of its own, after which this runs again.
    async fn resubscribe(&self) {
        let mut conn = self.bus.conn.clone();
        let node_channel = self.bus.keys.node_channel(self.node);
        let durable = self
            .durable
            .as_ref()
            .map(|_| self.bus.keys.durable_channel());
        for channel in [self.bus.keys.everyone(), node_channel]
            .into_iter()
            .chain(durable)
        {
            if let Err(err) = conn.subscribe(&channel).await {
                self.health.down(&err);
                return;
            }
        }
        self.interest.follow_again();
    }

    /// How long a node may stay silent before it counts as dead.
    pub(crate) fn silence(&self) -> Duration {
        self.config.node_ttl / 2
    }

    /// Puts a question to every node alive; the open question, and who should answer.
    pub(crate) fn ask(&self, ask: Ask) -> (crate::cluster::Pending, HashSet<u64>) {
        let nodes = self.peers.alive(self.silence());
        let pending = self.requests.open(nodes.len());
        let request = Request {
            id: pending.id,
            ask,
        };
        match Envelope::new(kind::REQUEST, self.node, &request) {
            Ok(envelope) => self.bus.to_everyone(&envelope, false),
            Err(err) => tracing::error!(%err, "a question to the cluster did not encode"),
        }
        (pending, nodes)
    }

    fn reply(&self, to: u64, id: u64, answer: Answer) {
        match Envelope::new(kind::REPLY, self.node, &Reply { id, answer }) {
            Ok(envelope) => {
                // A lost answer shows as a node that did not answer in time.
                let _queued = self.bus.to_node(to, &envelope);
            }
            Err(err) => tracing::error!(%err, "an answer to the cluster did not encode"),
        }
    }

    /// Handles one message from the cluster.
    fn handle(self: &Arc<Self>, bytes: &[u8]) {
        let envelope: Envelope = match wire::decode(bytes) {
            Ok(envelope) => envelope,
            Err(err) => {
                tracing::warn!(%err, "a cluster message did not decode");
                return;
            }
        };
        let origin = envelope.origin;
        if origin == self.node {
            return;
        }
        if self.peers.heard(origin) {
            self.health.changed();
            // A node new to this one: answer its heartbeat at once rather than at the next
            // beat, so that it knows every node before it asks them anything.
            let hello = Envelope::empty(kind::HEARTBEAT, self.node);
            self.bus.to_everyone(&hello, false);
        }
        let body = envelope.body.as_ref();
        let handled = match envelope.kind {
            kind::BROADCAST => wire::decode(body).map(|b| self.deliver(&b)),
            kind::REQUEST => wire::decode(body).map(|r| self.serve(origin, r)),
            kind::REPLY => wire::decode(body).map(|r| self.requests.answer(origin, r)),
            kind::PRESENCE => wire::decode(body).map(|d| presence::apply(self, d)),
            kind::HEARTBEAT => Ok(()),
            kind::PRESENCE_RESYNC => {
                tokio::spawn(presence::reload_node(self.clone(), origin));
                Ok(())
            }
            kind::RELAY => wire::decode(body).map(|m| relay::handle(self, origin, m)),
            kind::GOODBYE => {
                self.peers.forget(origin);
                self.health.changed();
                presence::remove_node_here(self, origin);
                Ok(())
            }
            other => {
                tracing::debug!(kind = other, "an unknown cluster message was ignored");
                Ok(())
            }
        };
        if let Err(err) = handled {
            tracing::warn!(%err, kind = envelope.kind, "a cluster message's body did not decode");
        }
    }

    /// Delivers another node's broadcast to this node's sockets.
    fn deliver(&self, broadcast: &Broadcast) {
        let payload = broadcast.event.payload();
        let event = OutgoingEvent::new(&broadcast.event.name, &payload, false)
            .with_seq(broadcast.event.seq)
            .with_delivery(broadcast.event.delivery.delivery());
        self.local.broadcast(&broadcast.target.local(), &event);
    }

    /// Answers another node's question about this node's sockets.
    fn serve(self: &Arc<Self>, origin: u64, request: Request) {
        let id = request.id;
        match request.ask {
            Ask::Acks {
                target,
                event,
                timeout_ms,
            } => {
                let payload = event.payload();
                let outgoing = OutgoingEvent::new(&event.name, &payload, false).expecting_acks();
                let collect = self.local.broadcast_with_ack(
                    &target.local(),
                    &outgoing,
                    Duration::from_millis(timeout_ms),
                );
                let this = self.clone();
                tokio::spawn(async move {
                    let outcomes = collect.await.iter().map(Outcome::from).collect();
                    this.reply(origin, id, Answer::Acks(outcomes));
                });
            }
            Ask::Sockets { target } => {
                let this = self.clone();
                tokio::spawn(async move {
                    let sockets = this.local.fetch_sockets(&target.local()).await;
                    let sockets = sockets.iter().map(wire::Socket::from).collect();
                    this.reply(origin, id, Answer::Sockets(sockets));
                });
            }
            Ask::Apply { target, op } => {
                let this = self.clone();
                tokio::spawn(async move {
                    this.local.sockets_op(&target.local(), op.into_op()).await;
                    // A remote join is done when this node follows the room.
                    this.interest.settled().await;
                    this.reply(origin, id, Answer::Done);
                });
            }
            Ask::Rooms => {
                let this = self.clone();
                tokio::spawn(async move {
                    let rooms = this.local.rooms().await;
                    let rooms = rooms.iter().map(|r| r.as_str().to_owned()).collect();
                    this.reply(origin, id, Answer::Rooms(rooms));
                });
            }
            Ask::ServerEvent {
                name,
                payload,
                reply,
            } => {
                let run = self.events.run(&name, payload);
                let this = self.clone();
                tokio::spawn(async move {
                    let answer = run.await;
                    if reply {
                        this.reply(origin, id, Answer::ServerEvent(answer));
                    }
                });
            }
        }
    }
}

/// Hands each message from Redis to the node, while the node lives.
async fn dispatch(node: Weak<Inner>, mut inbound: mpsc::Receiver<PushInfo>) {
    while let Some(push) = inbound.recv().await {
        let Some(node) = node.upgrade() else {
            return;
        };
        match push.kind {
            PushKind::Disconnection => {
                node.health.down(&"the connection to Redis closed");
            }
            PushKind::Message | PushKind::SMessage => {
                let Some(message) = redis::Msg::from_push_info(push) else {
                    continue;
                };
                match &node.durable {
                    Some(durable) if durable.is_told_on(message.get_channel_name()) => {
                        durable.tell(message.get_payload_bytes());
                    }
                    _ => node.handle(message.get_payload_bytes()),
                }
            }
            _ => {}
        }
    }
}

/// Renews the node's liveness six times per TTL, notices Redis coming back (and then
/// rewrites this node's presence), and removes the presence of nodes that went silent for
/// half a TTL (three beats missed): a dead node's presence is gone within the TTL.
async fn heartbeat(node: Weak<Inner>) {
    let period = node
        .upgrade()
        .map_or(Duration::from_secs(1), |n| n.config.node_ttl / 6);
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(node) = node.upgrade() else {
            return;
        };
        match node.beat().await {
            Ok(()) => {
                if node.health.up().is_some() {
                    // Cut off, this node heard no one; their silence meant nothing.
                    node.peers.pardon_all();
                    if node.bus.conn.sharded() {
                        node.resubscribe().await;
                    }
                    tokio::spawn(presence::rewrite_own(node.clone()));
                }
            }
            Err(err) => {
                node.health.down(&err);
                // Three beats missed: make the connection anew, in case it is the one stuck.
                if node
                    .health
                    .down_for()
                    .is_some_and(|down| down >= period * 3)
                    && let Err(err) = node.bus.conn.renew().await
                {
                    tracing::debug!(%err, "could not make the Redis Cluster connection anew");
                }
            }
        }
        crate::meters::redis_up(node.health.is_up());
        if node.health.is_up() {
            for silent in node.peers.take_silent(node.silence()) {
                node.health.changed();
                tracing::info!(
                    node = format_args!("{silent:016x}"),
                    "a node went silent; its presence goes"
                );
                presence::remove_node(&node, silent).await;
            }
        }
    }
}

/// Ends every relayed connection whenever cross-node messages may have been lost: a relay
/// is a transport, and must not carry on past a gap. Its client resumes, and the holder
/// replays what it missed.
async fn break_relays(node: Weak<Inner>) {
    let Some(mut breaks) = node.upgrade().map(|n| n.health.breaks()) else {
        return;
    };
    while breaks.changed().await.is_ok() {
        let Some(node) = node.upgrade() else {
            return;
        };
        node.relays.break_all();
    }
}

/// A random node id from the OS.
fn node_id() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // Only uniqueness matters here; the clock's nanoseconds will do.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        bytes[..4].copy_from_slice(&nanos.to_le_bytes());
    }
    u64::from_le_bytes(bytes).max(1)
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
