//! A Redis Cluster of three primaries, one hash-slot third each, from Debian's redis-server
//! on loopback ports; made with `redis-cli --cluster create` and killed by PID when dropped.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Child;

use tokio::sync::watch;

use quicket_testkit::redis_cluster::node_port;

use super::{redis_server, within};

/// A running three-shard Redis Cluster.
pub(crate) struct RedisCluster {
    shards: Vec<Shard>,
    dir: PathBuf,
}

struct Shard {
    port: u16,
    child: Child,
    log: watch::Receiver<Said>,
}

/// What a shard's log said last.
#[derive(Debug, Clone, Copy, Default)]
struct Said {
    /// "Ready to accept connections".
    ready: bool,
    /// "Cluster state changed: ok" (or ": fail"), the latest of them.
    whole: bool,
}

impl RedisCluster {
    /// Starts three redis-server processes in cluster mode and joins them into one cluster
    /// that covers every hash slot.
    pub(crate) async fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "quicket-redis-cluster-{}-{}",
            std::process::id(),
            node_port().expect("a port")
        ));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let mut shards = Vec::new();
        for _ in 0..3 {
            shards.push(Shard::spawn(&dir, node_port().expect("a port")));
        }
        let mut cluster = Self { shards, dir };
        for shard in &mut cluster.shards {
            shard
                .until("a Redis Cluster node to start", |said| said.ready)
                .await;
        }
        let ports: Vec<u16> = cluster.shards.iter().map(|shard| shard.port).collect();
        quicket_testkit::redis_cluster::create(&ports).expect("the cluster is created");
        cluster.until_ok().await;
        cluster
    }

    /// The URLs of its nodes, to give an adapter as seeds.
    pub(crate) fn seeds(&self) -> Vec<String> {
        self.shards
            .iter()
            .map(|s| format!("redis://127.0.0.1:{}/", s.port))
            .collect()
    }

    /// The index of the shard that serves `key`'s hash slot: the one that does not answer
    /// a command on it with `MOVED`.
    pub(crate) async fn shard_of(&self, key: &str) -> usize {
        for (index, shard) in self.shards.iter().enumerate() {
            let mut conn = connection(shard.port).await;
            let served: redis::RedisResult<i64> =
                redis::cmd("EXISTS").arg(key).query_async(&mut conn).await;
            if served.is_ok() {
                return index;
            }
        }
        panic!("no shard serves {key}");
    }

    /// Kills one shard without a word (SIGKILL), as a crash would, and starts it again on
    /// the same port with its cluster configuration but no data; waits until the cluster is
    /// whole again.
    pub(crate) async fn restart(&mut self, index: usize) {
        let port = self.shards[index].port;
        self.shards[index].kill();
        self.shards[index] = Shard::spawn(&self.dir, port);
        self.until_ok().await;
    }

    /// Waits until every node's log says the cluster is whole.
    async fn until_ok(&mut self) {
        for shard in &mut self.shards {
            shard
                .until("the Redis Cluster to be whole", |said| said.whole)
                .await;
        }
    }
}

impl Shard {
    /// One redis-server in cluster mode, its state file in `dir`, persistence off. A thread
    /// reads its log to the end, so the pipe never fills, and tells what it says.
    fn spawn(dir: &Path, port: u16) -> Self {
        let (tell, heard) = watch::channel(Said::default());
        let state_file = dir.join(format!("nodes-{port}.conf"));
        let args: [&OsStr; 8] = [
            "--cluster-enabled".as_ref(),
            "yes".as_ref(),
            "--cluster-node-timeout".as_ref(),
            "2000".as_ref(),
            "--cluster-config-file".as_ref(),
            state_file.as_ref(),
            "--dir".as_ref(),
            dir.as_ref(),
        ];
        let child = redis_server(port, &args, move |line| {
            tell.send_modify(|said| {
                if line.contains("Ready to accept connections") {
                    said.ready = true;
                } else if line.contains("Cluster state changed: ok") {
                    said.whole = true;
                } else if line.contains("Cluster state changed: fail") {
                    said.whole = false;
                }
            });
        });
        Self {
            port,
            child,
            log: heard,
        }
    }

    /// Waits until what the log said last satisfies `holds`.
    async fn until(&mut self, what: &str, holds: impl Fn(&Said) -> bool) {
        within(what, self.log.wait_for(|said| holds(said)))
            .await
            .expect("redis-server's log is read");
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for shard in &mut self.shards {
            shard.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A plain connection to one node of the cluster.
async fn connection(port: u16) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("the Redis Cluster node answers")
}
