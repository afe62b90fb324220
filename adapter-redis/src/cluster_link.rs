//! A connection to a Redis Cluster that can be made anew. redis-rs repairs a lost node
//! connection on its own, but after a shard restarts, a connection was seen to stay cut from
//! it for good; a node that cannot reach Redis for a while replaces its whole connection.
//! Each connection is a generation: the pushes of an older one are dropped, so no message
//! arrives twice while the old one winds down.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{ConnectionInfo, ProtocolVersion, PushInfo, RedisResult};

/// Where pushes go; `Err` when they could not be taken.
pub(crate) type PushFn = Arc<dyn Fn(PushInfo) -> Result<(), ()> + Send + Sync>;

pub(crate) struct ClusterLink {
    nodes: Vec<ConnectionInfo>,
    pushes: PushFn,
    timeout: Duration,
    /// The generation whose pushes count.
    generation: Arc<AtomicU64>,
    current: RwLock<ClusterConnection>,
}

impl ClusterLink {
    /// Connects to the cluster `nodes` belong to.
    pub(crate) async fn connect(
        nodes: Vec<ConnectionInfo>,
        pushes: PushFn,
        timeout: Duration,
    ) -> RedisResult<Self> {
        let generation = Arc::new(AtomicU64::new(0));
        let conn = open(&nodes, &pushes, timeout, &generation, 0).await?;
        Ok(Self {
            nodes,
            pushes,
            timeout,
            generation,
            current: RwLock::new(conn),
        })
    }

    /// The connection now: a cheap handle.
    pub(crate) fn conn(&self) -> ClusterConnection {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the connection with a new one, with no subscriptions yet: the caller makes
    /// them again. From now on, only the new connection's pushes count.
    pub(crate) async fn renew(&self) -> RedisResult<()> {
        let next = self.generation.load(Ordering::Acquire) + 1;
        let conn = open(
            &self.nodes,
            &self.pushes,
            self.timeout,
            &self.generation,
            next,
        )
        .await?;
        self.generation.store(next, Ordering::Release);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = conn;
        Ok(())
    }
}

/// A connection of generation `mine`, whose pushes are forwarded while it is the current one.
async fn open(
    nodes: &[ConnectionInfo],
    pushes: &PushFn,
    timeout: Duration,
    generation: &Arc<AtomicU64>,
    mine: u64,
) -> RedisResult<ClusterConnection> {
    let forward = Arc::clone(pushes);
    let current = Arc::clone(generation);
    let sender = move |push: PushInfo| -> Result<(), ()> {
        if current.load(Ordering::Acquire) == mine {
            forward(push)
        } else {
            Ok(())
        }
    };
    ClusterClientBuilder::new(nodes.to_vec())
        .use_protocol(ProtocolVersion::RESP3)
        .push_sender(sender)
        .connection_timeout(timeout)
        .response_timeout(timeout)
        .retries(3)
        .max_retry_wait(500)
        .build()?
        .get_async_connection()
        .await
}
