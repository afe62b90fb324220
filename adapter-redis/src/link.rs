//! The connection to Redis, standalone or Cluster, behind one type: commands, pipelines that
//! respect hash slots, and pub/sub that is classic on one Redis and sharded on a Cluster.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_routing::Slot;
use redis::{Cmd, IntoConnectionInfo, Pipeline, ProtocolVersion, PushInfo, RedisFuture, Value};

use crate::bus::ConnectError;
use crate::cluster_link::ClusterLink;

/// How long a command, or a connection attempt, may take before it counts as failed.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// One managed connection that reconnects and resubscribes on its own. Cheap to clone; every
/// clone shares it.
#[derive(Clone)]
pub(crate) enum Link {
    /// One Redis (a primary, perhaps behind Sentinel): classic pub/sub, any pipeline.
    Single(ConnectionManager),
    /// A Redis Cluster: sharded pub/sub (`SPUBLISH`, `SSUBSCRIBE`), so a channel lives on
    /// the shard of its hash slot, and a pipeline never spans two slots.
    Cluster(Arc<ClusterLink>),
}

impl Link {
    /// Connects to the Redis at `url`; its pushes go to `pushes`.
    pub(crate) async fn single(
        url: &str,
        pushes: impl Fn(PushInfo) -> Result<(), ()> + Send + Sync + 'static,
    ) -> Result<Self, ConnectError> {
        let info = url
            .into_connection_info()
            .map_err(|err| ConnectError::Url(err.to_string()))?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings))?;
        let managed = ConnectionManagerConfig::new()
            .set_push_sender(pushes)
            .set_automatic_resubscription()
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_max_delay(Duration::from_millis(500));
        Ok(Self::Single(
            ConnectionManager::new_with_config(client, managed).await?,
        ))
    }

    /// Connects to the Redis Cluster that `seeds` belong to; its pushes go to `pushes`.
    pub(crate) async fn cluster(
        seeds: &[String],
        pushes: impl Fn(PushInfo) -> Result<(), ()> + Send + Sync + 'static,
    ) -> Result<Self, ConnectError> {
        let mut infos = Vec::with_capacity(seeds.len());
        for seed in seeds {
            let info = seed
                .as_str()
                .into_connection_info()
                .map_err(|err| ConnectError::Url(err.to_string()))?;
            infos.push(info);
        }
        if infos.is_empty() {
            return Err(ConnectError::Url("no Redis Cluster node given".to_owned()));
        }
        let link = ClusterLink::connect(infos, Arc::new(pushes), RESPONSE_TIMEOUT).await?;
        Ok(Self::Cluster(Arc::new(link)))
    }

    /// On a Cluster, replaces the connection with a new one that has no subscriptions yet
    /// (see [`ClusterLink`]); nothing on one Redis, whose connection manager reconnects and
    /// resubscribes on its own.
    pub(crate) async fn renew(&self) -> Result<(), ConnectError> {
        if let Self::Cluster(link) = self {
            link.renew().await?;
        }
        Ok(())
    }

    /// Whether channels are sharded: a Cluster.
    pub(crate) fn sharded(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// Listens on `channel`, and again after every reconnect.
    pub(crate) async fn subscribe(&mut self, channel: &str) -> Result<(), ConnectError> {
        match self {
            Self::Single(conn) => conn.subscribe(channel).await?,
            Self::Cluster(link) => link.conn().ssubscribe(channel).await?,
        }
        Ok(())
    }

    /// Stops listening on `channel`.
    pub(crate) async fn unsubscribe(&mut self, channel: &str) -> Result<(), ConnectError> {
        match self {
            Self::Single(conn) => conn.unsubscribe(channel).await?,
            Self::Cluster(link) => link.conn().sunsubscribe(channel).await?,
        }
        Ok(())
    }

    /// The command that publishes `message` on `channel`.
    pub(crate) fn publish(&self, channel: &str, message: &[u8]) -> Cmd {
        let mut cmd = redis::cmd(if self.sharded() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        });
        cmd.arg(channel).arg(message);
        cmd
    }

    /// An empty batch of commands for this link.
    pub(crate) fn batch(&self) -> Batch {
        Batch {
            sharded: self.sharded(),
            pipes: HashMap::new(),
        }
    }
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(link) => {
                let mut conn = link.conn();
                Box::pin(async move { conn.req_packed_command(cmd).await })
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(link) => {
                let mut conn = link.conn();
                Box::pin(async move { conn.req_packed_commands(pipeline, offset, count).await })
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(link) => link.conn().get_db(),
        }
    }
}

/// Commands sent together: one pipeline on one Redis; on a Cluster, one per hash slot, each
/// keeping its commands' order, sent side by side.
pub(crate) struct Batch {
    sharded: bool,
    pipes: HashMap<Option<Slot>, Pipeline>,
}

impl Batch {
    /// The pipeline for commands on `key` (or on the channel `key`).
    pub(crate) fn on(&mut self, key: &str) -> &mut Pipeline {
        let slot = self.sharded.then(|| Slot::for_key(key));
        self.pipes.entry(slot).or_default()
    }

    /// Adds a command on `key` whose answer is not needed.
    pub(crate) fn add(&mut self, key: &str, cmd: Cmd) {
        self.on(key).add_command(cmd).ignore();
    }

    /// Sends every pipeline; the first error, if any.
    pub(crate) async fn send(self, link: &Link) -> redis::RedisResult<()> {
        let sends = self.pipes.into_values().map(|pipe| {
            let mut link = link.clone();
            async move { pipe.query_async::<()>(&mut link).await }
        });
        futures_util::future::try_join_all(sends).await?;
        Ok(())
    }
}
