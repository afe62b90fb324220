//! # quicket-redis
//!
//! Many quicket server nodes as one, on Redis. Plug a [`RedisAdapter`] into each node's
//! server and every node behaves as part of one:
//!
//! - **Broadcast** with every operator (`to`, `except`, `volatile`, `timeout`) reaches the
//!   targeted sockets on every node; `local()` stays on the node. A broadcast is published
//!   to Redis once, and each node fans it out to its own sockets, encoding once per codec.
//! - **Broadcast with acks** collects the replies of every node's sockets under one timeout.
//! - **Sockets by id or room** cluster-wide: `fetch_sockets` (id, rooms, data), and remote
//!   `join`, `leave` and `disconnect`.
//! - **Server-side events**: [`RedisAdapter::server_emit`] reaches the handlers other nodes
//!   registered with [`RedisAdapter::on_server_event`], with optional acks.
//! - **Presence** lives in Redis, one hash per room with each meta tagged with its node. A
//!   client subscribing on any node gets the whole cluster's state, then every node's diffs.
//!   A node mirrors a room's presence only while it has members there: it loads the room
//!   from Redis when its first socket joins, and lets it go when its last one leaves; a
//!   server listing another room reads Redis. Each node heartbeats with a TTL; when one dies
//!   without a word, the others remove its metas within about one TTL and tell their
//!   subscribers.
//!
//! ```no_run
//! use quicket_core::{Data, Server, Socket};
//! use quicket_redis::RedisAdapter;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let adapter = RedisAdapter::connect("redis://127.0.0.1:6379/").await?;
//! let server = Server::builder()
//!     .adapter(adapter.clone())
//!     .on_connect(|socket: Socket| async move {
//!         let _ = socket.join("lobby");
//!         socket.on("chat", |socket: Socket, Data(text): Data<String>| async move {
//!             // Every socket in the lobby, on every node.
//!             let _ = socket.to("lobby").emit("chat", &text);
//!         });
//!     })
//!     .build();
//! // Serve `server` over WebTransport and WebSocket as usual; expose the adapter's health.
//! println!("redis reachable: {}", adapter.health().redis_connected);
//! # Ok(()) }
//! ```
//!
//! ## Recovery across nodes
//!
//! A client that drops from node A and comes back through node B within the recovery window
//! recovers: same id, same rooms, the missed events exactly once and in order. Each session's
//! record (which node holds it) lives in Redis under its resume token, with the window as its
//! TTL. Node B finds it and relays the connection to A, which serves it as one more
//! connection of its own: the session, its replay buffer and its ordering never move, so
//! nothing can be lost or doubled in a handover. A relayed socket reports the in-process
//! `memory` transport on A. If cross-node messages may have been lost (Redis went away, a
//! queue overflowed), every relay ends and its client resumes again, A replaying what it
//! missed. The buffer stays in A's memory: without durable recovery, if A dies within the
//! window, its sessions cannot be recovered, and their clients get new sessions
//! (`recovered = false`).
//!
//! ## Durable recovery: surviving a node's death
//!
//! With [`RedisConfig::durable_recovery`] on, a client whose node died resumes on another
//! node with the same socket id, the same rooms, and every reliable event it missed, once and
//! in order, including those emitted while no node held its session:
//! - Every reliable broadcast, and each socket's own emits, go into one log in Redis (a
//!   stream, about [`RedisConfig::durable_log_len`] entries long), appended and told to every
//!   node in one script. On a Redis Cluster the log, and the channel it is told on, live on
//!   one shard: every durable broadcast goes through it, whatever its room. Each node delivers them in the log's order, its own broadcasts
//!   included: a node's own sockets get its broadcasts when Redis tells them back, one round
//!   trip later. A graceful close (`disconnect`, shutdown) writes a socket's emits first.
//! - Each node records per session a few anchors: after entry S of the log, the session had
//!   been sent k events and was in these rooms. They are written when a session starts,
//!   joins or leaves a room (before any later entry is delivered), and each quarter of the
//!   recovery window, with the window as their time to live. Nothing is written per
//!   delivery.
//! - A client that resumes on node B after its node A went silent for half a node TTL is
//!   carried on there: B claims A's record of the session (one node only), walks the log
//!   from the anchor at or before the client's offset, counting the entries that reached the
//!   session, and replays those after the offset. B then runs its connect handler for the
//!   socket, whose [`Socket::recovered`](quicket_core::Socket::recovered) is `true`: it
//!   registers the handlers again; the rooms are already joined. Presence is not carried
//!   over: the client subscribes again, and the handler tracks again what it tracked.
//! - What the client sent is at least once: B counts the client's events as A last recorded
//!   them, so events A handled since its last anchor write (at most a quarter window old)
//!   are sent again by the client.
//! - A session cannot be carried on (its client gets a new session) when the log no longer
//!   reaches back to its anchor (trimmed past it), or when its anchors disagree with the log.
//!   While Redis is away, broadcasts are lost, those to the node's own sockets too, and
//!   counted in [`Health::lost_broadcasts`]; a node that missed entries reads them back from
//!   the log when Redis returns.
//!
//! The cost, measured by `quicket-bench cluster` at saturation on one machine: about 15 %
//! fewer deliveries per second and 20 to 25 % more server CPU per delivery than the same
//! three nodes without it, and a node's own broadcasts take one more round trip to Redis.
//!
//! ## Redis faults
//!
//! The connection reconnects and resubscribes on its own. While Redis is away, each node
//! keeps delivering to its own sockets; cross-node broadcasts published meanwhile are lost,
//! counted in [`Health::lost_broadcasts`] and logged when Redis returns. Once back, each node
//! writes its presence into Redis again and the others reload it, so presence converges even
//! if Redis restarted empty. [`RedisAdapter::health`] says whether the node reaches Redis.
//!
//! ## Redis Cluster
//!
//! [`RedisAdapter::connect_cluster`] joins through a Redis Cluster (Redis 7 or later) instead
//! of one Redis. Pub/sub is then sharded (`SPUBLISH`, `SSUBSCRIBE`), so no single Redis
//! carries every message to every node:
//! - A broadcast to one room goes on that room's channel, which lives on the shard of its
//!   hash slot; only the nodes with members in the room listen on it. A node subscribes when
//!   its first socket joins a room and unsubscribes when its last one leaves.
//! - Broadcasts to several rooms or to every socket, questions to the other nodes, presence
//!   diffs and heartbeats go on one channel that every node listens on.
//! - Presence follows the same interest: a room's presence hash and its diffs live on the
//!   room's shard, so only the nodes that mirror the room hear its diffs. A node starts
//!   listening before it loads the room, so no diff is missed.
//! - Session records are keys placed by hash slot; commands sent together are grouped per
//!   slot.
//!
//! What changes for an application:
//! - **Order holds per channel.** A node's broadcasts to one room arrive in order, and so do
//!   its broadcasts on the shared channel, but a broadcast to room `a` followed by one to
//!   every socket may arrive the other way round. On one Redis, a node's broadcasts arrive
//!   everywhere in its order.
//! - **A join reaches other nodes' broadcasts one round trip later**: once this node's
//!   `SSUBSCRIBE` for the room is confirmed by its shard. A handler that must not miss a
//!   broadcast sent right after the join awaits [`RedisAdapter::subscriptions_settled`].
//!   Remote joins (`server.to(..).join(..)`) wait for it before they complete.
//! - After an outage, the node subscribes to every channel again, so a shard that restarted
//!   empty learns its listeners back; a node that cannot reach the cluster for three
//!   heartbeats makes its connection anew, ignoring whatever the old one still delivers.
//!   Broadcasts published meanwhile are lost and counted, as on one Redis.

mod adapter;
mod bus;
mod cluster;
mod cluster_link;
mod config;
mod durable;
mod events;
mod health;
mod interest;
mod link;
mod meters;
mod node;
mod presence;
mod relay;
mod wire;

pub use crate::bus::ConnectError;
pub use crate::config::RedisConfig;
pub use crate::events::{NodeReply, ServerEmitError};
pub use crate::health::Health;
pub use crate::meters::describe_metrics;
pub use crate::node::{HealthWatch, RedisAdapter};
