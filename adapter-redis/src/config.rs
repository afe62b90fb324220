//! How a node uses Redis.

use std::time::Duration;

/// The Redis adapter's configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisConfig {
    /// Prefixes every key and channel: nodes with the same prefix are one cluster. Default
    /// `quicket`.
    pub prefix: String,
    /// How long a node that stopped heartbeating may count as alive. A node heartbeats six
    /// times per TTL and counts as dead after half a TTL of silence, so when it dies without
    /// a word the others remove its presence within the TTL. Its liveness key in Redis
    /// expires after one TTL. Default 5 s.
    pub node_ttl: Duration,
    /// How long a question to the other nodes (fetch sockets, remote join and leave, rooms)
    /// waits for every answer. Default 5 s.
    pub request_timeout: Duration,
    /// How much longer than its own timeout a broadcast with acks waits for other nodes'
    /// replies, which travel back through Redis. Default 500 ms.
    pub ack_grace: Duration,
    /// Messages queued for Redis before further cross-node messages are dropped (and
    /// counted). Default 65,536.
    pub outbound_queue: usize,
    /// Messages from Redis queued for handling before further ones are dropped (and counted).
    /// Default 65,536.
    pub inbound_queue: usize,
    /// Durable recovery: a client whose node dies resumes on another node with every
    /// reliable event it missed, once and in order (see the crate docs). Every reliable
    /// broadcast, and each socket's own emits, then go through a log in Redis, and reach this
    /// node's sockets too once Redis has ordered them. On a Redis Cluster the log lives on
    /// one shard, which every durable broadcast then goes through.
    /// Default off.
    pub durable_recovery: bool,
    /// About how many entries the durable log keeps (Redis trims it in whole nodes). A dead
    /// node's session can be carried on only while the log reaches back to the last position
    /// its node recorded for it, at most a quarter of the recovery window old. Default
    /// 100,000.
    pub durable_log_len: usize,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            prefix: "quicket".to_owned(),
            node_ttl: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            ack_grace: Duration::from_millis(500),
            outbound_queue: 1 << 16,
            inbound_queue: 1 << 16,
            durable_recovery: false,
            durable_log_len: 100_000,
        }
    }
}

impl RedisConfig {
    /// Sets [`RedisConfig::prefix`].
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
}

quicket_core::setters!(RedisConfig {
    node_ttl: Duration,
    request_timeout: Duration,
    ack_grace: Duration,
    outbound_queue: usize,
    inbound_queue: usize,
    durable_recovery: bool,
    durable_log_len: usize,
});

/// Where the node's Redis is.
pub(crate) enum Deployment {
    /// One Redis at this URL.
    Single(String),
    /// A Redis Cluster, found through these nodes' URLs.
    Cluster(Vec<String>),
}
