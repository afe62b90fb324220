//! `cluster`: fan-out across three quicket nodes on one Redis, on one Redis with durable
//! recovery on, and on a three-shard Redis Cluster (sharded pub/sub), against the same
//! fan-out on one node, side by side. The publisher is on the first node; the receivers are
//! spread over all three, so two thirds of each message's deliveries cross Redis. The durable
//! row also gives its deliveries/s and CPU per delivery against the plain Redis row: what the
//! durable log costs.

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
    let on_redis = vec!["--redis".to_owned(), redis.url()];
    let durable = [
        on_redis.as_slice(),
        &["--durable".to_owned(), "on".to_owned()],
    ]
    .concat();
    let mut backends = vec![(Backend::Single, on_redis), (Backend::Durable, durable)];
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
            let mut plain = None;
            for (backend, args) in &backends {
                let three = three_nodes(args, transport, plan, saturate, report).await?;
                let mut three = with_ratios(labelled(three, transport, Some(*backend)), &one);
                match backend {
                    Backend::Single => plain = Some(three.clone()),
                    Backend::Durable => durable_cost(&mut three, plain.as_ref()),
                    Backend::Cluster => {}
                }
                report.row("cluster", TABLE, three);
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
    /// One Redis, every reliable broadcast through the durable log.
    Durable,
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

/// What the durable log costs: the durable row's deliveries/s and server CPU per delivery
/// against the same three nodes without it (`plain`).
fn durable_cost(row: &mut Value, plain: Option<&Value>) {
    let Some(plain) = plain else {
        return;
    };
    for (key, ratio) in [
        ("deliveries/s", "deliveries/s vs durable off"),
        ("server CPU µs/delivery", "CPU/delivery vs durable off"),
    ] {
        if let (Some(a), Some(b)) = (row[key].as_f64(), plain[key].as_f64()) {
            row[ratio] = Value::from(a / b);
        }
    }
}

/// Names a fan-out row by where its nodes meet: one node alone (`None`), or three on Redis.
fn labelled(mut row: Value, transport: Transport, backend: Option<Backend>) -> Value {
    let (where_, nodes) = match backend {
        None => ("1 node", 1),
        Some(Backend::Single) => ("3 nodes on Redis", 3),
        Some(Backend::Durable) => ("3 nodes on Redis, durable recovery", 3),
        Some(Backend::Cluster) => ("3 nodes on a 3-shard Redis Cluster", 3),
    };
    row["stack"] = Value::from(format!("quicket {} ({where_})", transport.name()));
    row["nodes"] = Value::from(nodes);
    row
}
