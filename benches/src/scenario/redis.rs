//! The Redis the cluster scenario's nodes meet on: one redis-server, or a three-shard Redis
//! Cluster; private, on loopback ports, persistence off, pinned with the servers, stopped by
//! PID.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::cli::Result;
use crate::report::Report;

/// How long a Redis may take to be ready, or a cluster to be whole.
const READY: Duration = Duration::from_secs(10);

/// One redis-server.
pub(super) struct RedisProcess {
    child: Child,
    port: u16,
    /// Whether its log last said the cluster is whole ("Cluster state changed: ok").
    whole: watch::Receiver<bool>,
}

impl RedisProcess {
    /// Starts one on a free port, with `extra` arguments; ready when its log says so.
    pub(super) async fn start(report: &Report, extra: &[String]) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        Self::start_on(report, port, extra).await
    }

    async fn start_on(report: &Report, port: u16, extra: &[String]) -> Result<Self> {
        let mut command = match report.placement.server_cpu {
            Some(cpu) => {
                let mut command = Command::new("taskset");
                command.arg("-c").arg(cpu.to_string()).arg("redis-server");
                command
            }
            None => Command::new("redis-server"),
        };
        let mut child = command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| {
                format!("redis-server did not start ({err}); scripts/test installs it")
            })?;
        eprintln!(
            "quicket-bench: started redis-server on 127.0.0.1:{port} as pid {}",
            child.id().unwrap_or(0)
        );
        // Ready when its log says so; the log is then read to its end, so the pipe never fills.
        let log = child
            .stdout
            .take()
            .ok_or("redis-server's log is not piped")?;
        let mut lines = BufReader::new(log).lines();
        tokio::time::timeout(READY, async {
            while let Some(line) = lines.next_line().await? {
                if line.contains("Ready to accept connections") {
                    return Ok(());
                }
            }
            Err::<(), crate::cli::BoxError>("redis-server exited before it was ready".into())
        })
        .await
        .map_err(|_| "redis-server was not ready within 10 s")??;
        let (tell, whole) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("Cluster state changed: ok") {
                    tell.send_replace(true);
                } else if line.contains("Cluster state changed: fail") {
                    tell.send_replace(false);
                }
            }
        });
        Ok(Self { child, port, whole })
    }

    pub(super) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub(super) async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A Redis Cluster of three primaries, one third of the hash slots each.
pub(super) struct RedisCluster {
    shards: Vec<RedisProcess>,
    dir: std::path::PathBuf,
}

impl RedisCluster {
    /// Starts three cluster-mode redis-servers and joins them with `redis-cli --cluster
    /// create`; ready when every shard says the cluster is whole.
    pub(super) async fn start(report: &Report) -> Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("quicket-bench-cluster-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut cluster = Self {
            shards: Vec::new(),
            dir,
        };
        for _ in 0..3 {
            let port = quicket_testkit::redis_cluster::node_port()?;
            let state = cluster.dir.join(format!("nodes-{port}.conf"));
            let args = [
                "--cluster-enabled".to_owned(),
                "yes".to_owned(),
                "--cluster-config-file".to_owned(),
                state.display().to_string(),
                "--dir".to_owned(),
                cluster.dir.display().to_string(),
            ];
            cluster
                .shards
                .push(RedisProcess::start_on(report, port, &args).await?);
        }
        let ports: Vec<u16> = cluster.shards.iter().map(|shard| shard.port).collect();
        tokio::task::spawn_blocking(move || quicket_testkit::redis_cluster::create(&ports))
            .await??;
        for shard in &mut cluster.shards {
            tokio::time::timeout(READY, shard.whole.wait_for(|whole| *whole))
                .await
                .map_err(|_| "the Redis Cluster was not whole within 10 s")??;
        }
        Ok(cluster)
    }

    /// Its nodes' URLs.
    pub(super) fn seeds(&self) -> Vec<String> {
        self.shards.iter().map(RedisProcess::url).collect()
    }

    pub(super) async fn stop(self) {
        for shard in self.shards {
            shard.stop().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
