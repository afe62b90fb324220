//! `cluster`: fan-out across three quicket nodes on one Redis, against the same fan-out on one
//! node, side by side. The publisher is on the first node; the receivers are spread over all
//! three, so two thirds of each message's deliveries cross Redis.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::fanout::{Plan, quicket_run};
use super::{start_server, start_server_with};
use crate::cli::{Result, RunOptions, Transport};
use crate::echo::Target;
use crate::process::ServerProcess;
use crate::report::Report;

const TABLE: &str = "Fan-out across nodes on Redis";

pub(super) async fn run(options: &RunOptions, report: &mut Report) -> Result<()> {
    let redis = match RedisProcess::start(report).await {
        Ok(redis) => redis,
        Err(err) => {
            report.skip("cluster fan-out", &err.to_string());
            return Ok(());
        }
    };
    let plan = Plan::cluster(options.quick);
    for &transport in &options.transports {
        if !matches!(transport, Transport::Wt | Transport::Ws) {
            continue;
        }
        for saturate in [false, true] {
            let single = start_server("quicket", report).await?;
            let target = Target::remote(&single)?;
            let one = quicket_run(
                std::slice::from_ref(&target),
                &[&single],
                transport,
                plan,
                saturate,
            )
            .await?;
            single.stop().await;

            let redis_args = ["--redis".to_owned(), redis.url()];
            let mut nodes = Vec::new();
            for _ in 0..3 {
                nodes.push(start_server_with("quicket", &redis_args, report).await?);
            }
            let targets = nodes
                .iter()
                .map(Target::remote)
                .collect::<Result<Vec<_>>>()?;
            let servers: Vec<&ServerProcess> = nodes.iter().collect();
            let three = quicket_run(&targets, &servers, transport, plan, saturate).await?;
            for node in nodes {
                node.stop().await;
            }
            let mut one = labelled(one, transport, 1);
            let mut three = labelled(three, transport, 3);
            for (key, value) in [
                ("p50 ms", "p50 vs 1 node"),
                ("deliveries/s", "deliveries/s vs 1 node"),
            ] {
                if let (Some(a), Some(b)) = (three[key].as_f64(), one[key].as_f64()) {
                    three[value] = Value::from(a / b);
                    one[value] = Value::from(1.0);
                }
            }
            report.row("cluster", TABLE, one);
            report.row("cluster", TABLE, three);
        }
    }
    redis.stop().await;
    Ok(())
}

/// Names a fan-out row by its node count.
fn labelled(mut row: Value, transport: Transport, nodes: usize) -> Value {
    let where_ = if nodes == 1 {
        "1 node".to_owned()
    } else {
        format!("{nodes} nodes on Redis")
    };
    row["stack"] = Value::from(format!("quicket {} ({where_})", transport.name()));
    row["nodes"] = Value::from(nodes);
    row
}

/// A private redis-server on a free loopback port, persistence off, pinned with the servers;
/// stopped by its PID.
struct RedisProcess {
    child: Child,
    port: u16,
}

impl RedisProcess {
    async fn start(report: &Report) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
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
        tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(line) = lines.next_line().await? {
                if line.contains("Ready to accept connections") {
                    return Ok(());
                }
            }
            Err::<(), crate::cli::BoxError>("redis-server exited before it was ready".into())
        })
        .await
        .map_err(|_| "redis-server was not ready within 10 s")??;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, port })
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
