//! `cluster`: fan-out across three quicket nodes on one Redis, and on a three-shard Redis
//! Cluster (sharded pub/sub), against the same fan-out on one node, side by side. The
//! publisher is on the first node; the receivers are spread over all three, so two thirds of
//! each message's deliveries cross Redis.

use serde_json::Value;

use super::fanout::{Plan, quicket_run};
use super::redis::{RedisCluster, RedisProcess};
use super::{start_server, start_server_with};
use crate::cli::{Result, RunOptions, Transport};
use crate::echo::Target;
use crate::process::ServerProcess;
use crate::report::Report;

const TABLE: &str = "Fan-out across nodes on Redis";

pub(super) async fn run(options: &RunOptions, report: &mut Report) -> Result<()> {
    let redis = match RedisProcess::start(report, &[]).await {
        Ok(redis) => redis,
        Err(err) => {
            report.skip("cluster fan-out", &err.to_string());
            return Ok(());
        }
    };
    let cluster = match RedisCluster::start(report).await {
        Ok(cluster) => Some(cluster),
        Err(err) => {
            report.skip("cluster fan-out on a Redis Cluster", &err.to_string());
            None
        }
    };
    let mut backends = vec![(Backend::Single, vec!["--redis".to_owned(), redis.url()])];
    if let Some(cluster) = &cluster {
        let seeds = cluster.seeds().join(",");
        backends.push((Backend::Cluster, vec!["--redis-cluster".to_owned(), seeds]));
    }
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
            let one = labelled(one, transport, None);
            report.row("cluster", TABLE, with_ratios(one.clone(), &one));
            for (backend, args) in &backends {
                let three = three_nodes(args, transport, plan, saturate, report).await?;
                let three = labelled(three, transport, Some(*backend));
                report.row("cluster", TABLE, with_ratios(three, &one));
            }
        }
    }
    redis.stop().await;
    if let Some(cluster) = cluster {
        cluster.stop().await;
    }
    Ok(())
}

/// Where the three nodes meet.
#[derive(Debug, Clone, Copy)]
enum Backend {
    /// One Redis, classic pub/sub.
    Single,
    /// A three-shard Redis Cluster, sharded pub/sub.
    Cluster,
}

/// The fan-out with three nodes started with `args`.
async fn three_nodes(
    args: &[String],
    transport: Transport,
    plan: Plan,
    saturate: bool,
    report: &Report,
) -> Result<Value> {
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(start_server_with("quicket", args, report).await?);
    }
    let targets = nodes
        .iter()
        .map(Target::remote)
        .collect::<Result<Vec<_>>>()?;
    let servers: Vec<&ServerProcess> = nodes.iter().collect();
    let three = quicket_run(&targets, &servers, transport, plan, saturate).await;
    for node in nodes {
        node.stop().await;
    }
    three
}

/// `row` with its p50 and deliveries/s as ratios to the one-node row `one`.
fn with_ratios(mut row: Value, one: &Value) -> Value {
    for (key, ratio) in [
        ("p50 ms", "p50 vs 1 node"),
        ("deliveries/s", "deliveries/s vs 1 node"),
    ] {
        if let (Some(a), Some(b)) = (row[key].as_f64(), one[key].as_f64()) {
            row[ratio] = Value::from(a / b);
        }
    }
    row
}

/// Names a fan-out row by where its nodes meet: one node alone (`None`), or three on Redis.
fn labelled(mut row: Value, transport: Transport, backend: Option<Backend>) -> Value {
    let (where_, nodes) = match backend {
        None => ("1 node", 1),
        Some(Backend::Single) => ("3 nodes on Redis", 3),
        Some(Backend::Cluster) => ("3 nodes on a 3-shard Redis Cluster", 3),
    };
    row["stack"] = Value::from(format!("quicket {} ({where_})", transport.name()));
    row["nodes"] = Value::from(nodes);
    row
}
