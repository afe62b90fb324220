//! Faults: a node that dies without a word, and Redis restarting under traffic.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use quicket::{AckSender, Client, Data, PresenceEvent, PresenceWatch, Socket};
use tokio::sync::mpsc;
use tokio::time::Instant;

use support::{At, Backend, Node, RedisServer, config, health_until, unique_prefix, within};

/// A node on `at` whose sockets join `room` and track their name there, sent in `enter`.
async fn node(at: &At, prefix: &str) -> Node {
    let adapter = at.adapter(config(prefix)).await;
    let settle = adapter.clone();
    Node::serve(adapter, move |builder| {
        builder.on_connect(move |socket: Socket| {
            let settle = settle.clone();
            async move {
                socket.on(
                    "enter",
                    move |socket: Socket, Data(name): Data<String>, ack: AckSender| {
                        let settle = settle.clone();
                        async move {
                            socket.join("room").unwrap();
                            socket.presence("room").track(&name, ()).unwrap();
                            settle.subscriptions_settled().await;
                            let _ = ack.send(());
                        }
                    },
                );
            }
        })
    })
    .await
}

/// Reads numbers until one is at least `from`.
async fn after(rx: &mut mpsc::UnboundedReceiver<u64>, from: u64) {
    while rx.recv().await.expect("the client runs") < from {}
}

async fn enter(node: &Node, name: &str, ws: bool, builder: quicket::ClientBuilder) -> Client {
    let client = node.connect(builder, ws).await;
    within("enter", client.emit_with_ack::<()>("enter", name))
        .await
        .unwrap();
    client
}

/// Waits until the watch's state holds exactly `keys`.
async fn converge(watch: &mut PresenceWatch, keys: &[&str], what: &str) {
    within(what, async {
        loop {
            let state = watch.state();
            if state.len() == keys.len() && keys.iter().all(|k| state.contains(k)) {
                return;
            }
            watch.next().await.expect("the subscription runs");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_nodes_presence_leaves_the_others_within_the_ttl() {
    crashed_nodes_presence_leaves(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_redis_cluster_a_crashed_nodes_presence_leaves_the_others_within_the_ttl() {
    crashed_nodes_presence_leaves(true).await;
}

async fn crashed_nodes_presence_leaves(cluster: bool) {
    let backend = Backend::get(cluster).await;
    let at = backend.at();
    let prefix = unique_prefix("crash");
    let survivors = [node(&at, &prefix).await, node(&at, &prefix).await];

    // The doomed node runs on a runtime of its own, so it can die at once, mid-flight: no
    // goodbye, no cleanup, its Redis connection and sockets simply gone.
    let doomed_prefix = prefix.clone();
    let (runtime, doomed) = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let doomed = runtime.block_on(node(&at, &doomed_prefix));
        (runtime, doomed)
    })
    .join()
    .unwrap();

    let _alice = enter(&survivors[0], "alice", false, Client::builder()).await;
    let _d1 = enter(&doomed, "d1", false, Client::builder()).await;
    let _d2 = enter(&doomed, "d2", true, Client::builder()).await;
    let observers = [
        enter(&survivors[0], "o0", true, Client::builder()).await,
        enter(&survivors[1], "o1", false, Client::builder()).await,
    ];
    let mut watches: Vec<PresenceWatch> = observers
        .iter()
        .map(|o| o.subscribe_presence("room").unwrap())
        .collect();
    for watch in &mut watches {
        converge(
            watch,
            &["alice", "d1", "d2", "o0", "o1"],
            "everyone, before the crash",
        )
        .await;
    }

    runtime.shutdown_background();
    let crashed = Instant::now();
    for watch in &mut watches {
        let mut left = Vec::new();
        within("the crashed node's leaves", async {
            while left.len() < 2 {
                if let PresenceEvent::Leave {
                    key, last: true, ..
                } = watch.next().await.expect("the subscription runs")
                {
                    left.push(key);
                }
            }
        })
        .await;
        left.sort();
        assert_eq!(left, ["d1", "d2"]);
    }
    let converged = crashed.elapsed();
    let ttl = Duration::from_secs(2);
    println!("presence converged {converged:?} after the node crashed (node TTL {ttl:?})");
    assert!(converged <= ttl, "took {converged:?}, longer than the TTL");
    for survivor in &survivors {
        let keys = survivor.presence_keys("room").await;
        assert_eq!(keys, ["alice", "o0", "o1"]);
    }
    drop(doomed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_node_broadcast_comes_back_after_redis_restarts() {
    let mut redis = RedisServer::start().await;
    let prefix = unique_prefix("restart");
    let (a, b) = (
        node(&At::Single(redis.url()), &prefix).await,
        node(&At::Single(redis.url()), &prefix).await,
    );
    for node in [&a, &b] {
        health_until(&node.adapter, "the nodes to know each other", |h| {
            h.peers >= 1
        })
        .await;
    }

    let inbox = |tx: mpsc::UnboundedSender<u64>| {
        Client::builder().on("n", move |Data(n): Data<u64>| {
            let _ = tx.send(n);
            async {}
        })
    };
    let (local_tx, mut local) = mpsc::unbounded_channel();
    let (remote_tx, mut remote) = mpsc::unbounded_channel();
    let _on_a = enter(&a, "on-a", false, inbox(local_tx)).await;
    let _on_b = enter(&b, "on-b", true, inbox(remote_tx)).await;
    let observer = enter(&a, "observer", false, Client::builder()).await;
    let mut watch = observer.subscribe_presence("room").unwrap();
    converge(&mut watch, &["on-a", "on-b", "observer"], "presence before").await;

    // Node A publishes a numbered event every 20 ms throughout.
    let published = Arc::new(AtomicU64::new(0));
    let publisher = {
        let (server, published) = (a.server.clone(), published.clone());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_millis(20));
            loop {
                ticks.tick().await;
                let n = published.fetch_add(1, Ordering::Relaxed);
                let _ = server.to("room").emit("n", n);
            }
        })
    };
    within("cross-node delivery before", after(&mut remote, 5)).await;

    redis.kill();
    health_until(&a.adapter, "node A to notice Redis is gone", |h| {
        !h.redis_connected
    })
    .await;
    // Local delivery goes on meanwhile.
    let during = published.load(Ordering::Relaxed);
    within(
        "local delivery while Redis is away",
        after(&mut local, during + 10),
    )
    .await;

    redis.restart().await;
    let restarted = Instant::now();
    let first = published.load(Ordering::Relaxed);
    within(
        "cross-node delivery after the restart",
        after(&mut remote, first),
    )
    .await;
    let resubscribed = restarted.elapsed();
    publisher.abort();

    let health = a.adapter.health();
    println!(
        "cross-node broadcast worked again {resubscribed:?} after Redis restarted; \
         node A counted {} lost broadcasts over an outage of {:?}",
        health.lost_broadcasts, health.last_outage
    );
    assert!(health.redis_connected);
    assert!(
        health.outages >= 1 && health.lost_broadcasts > 0,
        "{health:?}"
    );
    assert!(
        resubscribed < Duration::from_secs(10),
        "took {resubscribed:?}"
    );

    // Presence converges again, though Redis came back empty: a newcomer on B is seen on A,
    // and those present before are still there.
    let _late = enter(&b, "late", false, Client::builder()).await;
    converge(
        &mut watch,
        &["late", "on-a", "on-b", "observer"],
        "presence after",
    )
    .await;
    let keys = b.presence_keys("room").await;
    assert_eq!(keys, ["late", "observer", "on-a", "on-b"]);
}
