//! The durable log under faults: a node that misses entries Redis told it reads them back
//! from the log, and delivery goes on after Redis restarts empty.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use quicket::{Client, Data, Socket};
use quicket_redis::RedisConfig;
use tokio::sync::mpsc;

use support::{Node, RedisServer, SharedRedis, config, health_until, unique_prefix, within};

/// A durable node whose sockets join the feed.
async fn node(redis: &str, config: RedisConfig) -> Node {
    Node::start(redis, config.durable_recovery(true), |builder| {
        builder.on_connect(|socket: Socket| async move {
            socket.join("feed").unwrap();
        })
    })
    .await
}

/// A client on `node` whose events `n` arrive on the receiver.
async fn listener(node: &Node) -> (Client, mpsc::UnboundedReceiver<u64>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let builder = Client::builder().on("n", move |Data(n): Data<u64>| {
        let _ = tx.send(n);
        async {}
    });
    (node.connect(builder, true).await, rx)
}

/// Publishes `n`, then `n + 1`, ... on `node`'s feed, one per `every`, from `first` on.
fn publish(
    node: &Node,
    first: u64,
    every: Duration,
) -> (Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let next = Arc::new(AtomicU64::new(first));
    let server = node.server.clone();
    let counter = next.clone();
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let _ = server.to("feed").emit("n", n);
        }
    });
    (next, task)
}

/// Reads into `received` until it holds `count` or a later number.
async fn read_until(got: &mut mpsc::UnboundedReceiver<u64>, received: &mut Vec<u64>, count: u64) {
    while received.last().is_none_or(|last| *last < count) {
        received.push(got.recv().await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_missed_told_entries_reads_them_back_from_the_log() {
    let redis = SharedRedis::get().await;
    let prefix = unique_prefix("durable-gap");
    // Node A keeps one message from Redis waiting at most: a burst overflows it.
    let a = node(redis.url(), config(&prefix).inbound_queue(1)).await;
    let b = node(redis.url(), config(&prefix)).await;
    let (_client, mut got) = listener(&a).await;

    const BURST: u64 = 500;
    for n in 1..=BURST {
        b.server.to("feed").emit("n", n).unwrap();
    }
    // Then one at a time, so that the burst's last entries are followed by one A hears.
    let (_, trickle) = publish(&b, BURST + 1, Duration::from_millis(20));
    let mut received = Vec::new();
    within("the burst, read back where it was missed", async {
        while received.len() < BURST as usize + 1 {
            received.push(got.recv().await.unwrap());
        }
    })
    .await;
    trickle.abort();
    let expected: Vec<u64> = (1..=BURST + 1).collect();
    assert_eq!(received, expected, "every entry once, in order");
    let dropped = a.adapter.health().dropped_inbound;
    assert!(
        dropped > 0,
        "the burst overflowed node A's queue: {dropped} dropped"
    );
    println!("node A dropped {dropped} messages from Redis and read the entries back from the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_delivery_goes_on_after_redis_restarts_empty() {
    let mut redis = RedisServer::start().await;
    let prefix = unique_prefix("durable-restart");
    let a = node(&redis.url(), config(&prefix)).await;
    let b = node(&redis.url(), config(&prefix)).await;
    let (_client, mut got) = listener(&a).await;
    let (next, publisher) = publish(&b, 0, Duration::from_millis(20));
    let mut received = Vec::new();
    within("delivery before", read_until(&mut got, &mut received, 5)).await;

    redis.kill();
    health_until(&a.adapter, "node A to notice Redis is gone", |h| {
        !h.redis_connected
    })
    .await;
    redis.restart().await;
    health_until(&a.adapter, "node A to reach Redis again", |h| {
        h.redis_connected
    })
    .await;
    let after_restart = next.load(Ordering::Relaxed) + 5;
    within(
        "delivery after",
        read_until(&mut got, &mut received, after_restart),
    )
    .await;
    publisher.abort();
    assert!(
        received.windows(2).all(|pair| pair[0] < pair[1]),
        "in order and never twice, broadcasts during the outage lost: {received:?}"
    );
}
