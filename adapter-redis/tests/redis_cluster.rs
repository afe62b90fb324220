//! Three quicket nodes on a three-shard Redis Cluster, with clients on each over WebTransport
//! and WebSocket: a room's broadcasts travel on its shard's channel, heard only by the nodes
//! with members in it; everything else still reaches every node; a shard's restart is
//! survived.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

mod support;

use std::time::Duration;

use quicket::{AckSender, Client, Data, PresenceEvent, Socket};
use quicket_redis::RedisAdapter;
use tokio::sync::mpsc;

use support::redis_cluster::RedisCluster;
use support::{Enter, Node, SharedCluster, config, enter, health_until, unique_prefix, within};

/// A node whose sockets `enter` rooms (tracking their name as presence in each) and `leave`
/// them, answered once the node's subscriptions follow.
async fn node(adapter: RedisAdapter) -> Node {
    let settle = adapter.clone();
    Node::serve(adapter, move |builder| {
        builder.on_connect(move |socket: Socket| {
            let settle = settle.clone();
            async move {
                let settled = settle.clone();
                socket.on(
                    "enter",
                    move |socket: Socket, Data(enter): Data<Enter>, ack: AckSender| {
                        let settle = settled.clone();
                        async move {
                            for room in &enter.rooms {
                                socket.join(room.as_str()).unwrap();
                                socket.presence(room).track(&enter.name, ()).unwrap();
                            }
                            settle.subscriptions_settled().await;
                            let _ = ack.send(());
                        }
                    },
                );
                socket.on(
                    "leave",
                    move |socket: Socket, Data(room): Data<String>, ack: AckSender| {
                        let settle = settle.clone();
                        async move {
                            socket.leave(room.as_str());
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

/// Three nodes on `cluster` that know each other.
async fn three_nodes(cluster: &SharedCluster, prefix: &str) -> Vec<Node> {
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(node(cluster.adapter(config(prefix)).await).await);
    }
    for node in &nodes {
        health_until(&node.adapter, "every node to know the others", |h| {
            h.peers >= 2
        })
        .await;
    }
    nodes
}

/// A client in `rooms` on `node`, and the `news` it receives.
async fn member(
    node: &Node,
    name: &str,
    ws: bool,
    rooms: &[&str],
) -> (Client, mpsc::Receiver<String>) {
    let (tx, news) = mpsc::channel(1024);
    let builder = Client::builder()
        .on("news", move |Data(text): Data<String>| {
            tx.try_send(text).unwrap();
            async {}
        })
        .on("ask", |ack: AckSender| async move {
            let _ = ack.send("here");
        });
    let client = node.connect(builder, ws).await;
    enter(&client, name, rooms).await;
    (client, news)
}

/// The next `count` news items.
async fn next(news: &mut mpsc::Receiver<String>, count: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < count {
        got.push(within("news", news.recv()).await.expect("the client runs"));
    }
    got
}

fn numbered(tag: &str, count: usize) -> Vec<String> {
    (1..=count).map(|n| format!("{tag}{n}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rooms_broadcasts_reach_its_members_once_and_only_their_nodes_listen() {
    let cluster = SharedCluster::get().await;
    let prefix = unique_prefix("sharded");
    let nodes = three_nodes(&cluster, &prefix).await;
    let listeners = |room: &str| format!("{prefix}#room#{{{room}}}");
    let (a, mut a_news) = member(&nodes[0], "a", false, &["room"]).await;
    let (_b, mut b_news) = member(&nodes[1], "b", true, &["room", "other"]).await;
    let (_c, mut c_news) = member(&nodes[2], "c", false, &["other"]).await;

    assert_eq!(
        cluster.listeners(&listeners("room")).await,
        2,
        "nodes 0 and 1"
    );
    assert_eq!(
        cluster.listeners(&listeners("other")).await,
        2,
        "nodes 1 and 2"
    );

    // From the node with no member in the room: every event, once, in order.
    for text in numbered("r", 50) {
        nodes[2].server.to("room").emit("news", &text).unwrap();
    }
    assert_eq!(next(&mut a_news, 50).await, numbered("r", 50));
    assert_eq!(next(&mut b_news, 50).await, numbered("r", 50));

    // Two rooms at once go to every node; b, in both, gets each event once.
    for text in numbered("both", 5) {
        nodes[0]
            .server
            .to("room")
            .to("other")
            .emit("news", &text)
            .unwrap();
    }
    assert_eq!(next(&mut a_news, 5).await, numbered("both", 5));
    assert_eq!(next(&mut b_news, 5).await, numbered("both", 5));
    assert_eq!(next(&mut c_news, 5).await, numbered("both", 5));

    // The last member of the room on node 0 leaves it: node 0 stops listening.
    within("leave", a.emit_with_ack::<()>("leave", "room"))
        .await
        .unwrap();
    assert_eq!(
        cluster.listeners(&listeners("room")).await,
        1,
        "node 1 only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_sockets_remote_joins_and_presence_span_the_shards() {
    let cluster = SharedCluster::get().await;
    let nodes = three_nodes(&cluster, &unique_prefix("sharded-ops")).await;
    let (_a, mut a_news) = member(&nodes[0], "a", false, &["room"]).await;
    let (_b, mut b_news) = member(&nodes[1], "b", true, &["room"]).await;
    let (_c, _c_news) = member(&nodes[2], "c", true, &["room", "vip"]).await;

    let replies = nodes[0]
        .server
        .to("room")
        .timeout(Duration::from_secs(5))
        .emit_with_ack::<String, _>("ask", ())
        .await
        .unwrap();
    assert_eq!(replies.len(), 3, "one reply per member, from every node");
    assert!(
        replies
            .iter()
            .all(|(_, reply)| reply.as_deref() == Ok("here"))
    );
    assert_eq!(nodes[1].server.to("room").fetch_sockets().await.len(), 3);

    // A remote join is done when the joining node listens: the next broadcast reaches.
    nodes[2].server.to("room").except("vip").join("extra").await;
    nodes[2].server.to("extra").emit("news", "extra").unwrap();
    assert_eq!(next(&mut a_news, 1).await, ["extra"]);
    assert_eq!(next(&mut b_news, 1).await, ["extra"]);

    for node in &nodes {
        let mut keys = node.presence_keys("room").await;
        keys.sort();
        assert_eq!(keys, ["a", "b", "c"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_mirrors_a_rooms_presence_only_while_it_has_members_there() {
    let cluster = SharedCluster::get().await;
    let nodes = three_nodes(&cluster, &unique_prefix("sharded-presence")).await;
    let (_c, _c_news) = member(&nodes[2], "c", true, &["vip"]).await;
    let (e, _e_news) = member(&nodes[1], "e", false, &["vip"]).await;

    // Node 0 has no member in vip: it lists the room from Redis.
    let mut keys = nodes[0].presence_keys("vip").await;
    keys.sort();
    assert_eq!(keys, ["c", "e"]);

    // Its first member there loads the room's presence as the node starts listening.
    let (d, _d_news) = member(&nodes[0], "d", false, &["vip"]).await;
    let mut watch = d.subscribe_presence("vip").unwrap();
    within("d to see the room", async {
        while watch.state().len() < 3 {
            watch.next().await.expect("the subscription runs");
        }
    })
    .await;
    for key in ["c", "d", "e"] {
        assert!(watch.state().contains(key), "{key}");
    }

    // Diffs reach it on the room's channel.
    within("e to leave", e.emit_with_ack::<()>("leave", "vip"))
        .await
        .unwrap();
    within("d to hear e leave", async {
        loop {
            if let PresenceEvent::Leave {
                key, last: true, ..
            } = watch.next().await.expect("the subscription runs")
                && key == "e"
            {
                return;
            }
        }
    })
    .await;
    assert_eq!(watch.state().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_broadcasts_flow_again_after_the_rooms_shard_restarts() {
    let mut cluster = RedisCluster::start().await;
    let shared = SharedCluster::of(&cluster);
    let prefix = unique_prefix("shard-restart");
    let nodes = three_nodes(&shared, &prefix).await;
    let (_a, mut a_news) = member(&nodes[0], "a", false, &["room"]).await;
    let (_b, mut b_news) = member(&nodes[1], "b", true, &["room"]).await;

    let shard = cluster.shard_of(&format!("{prefix}#room#{{room}}")).await;
    cluster.restart(shard).await;

    // Until every node reaches the shard again and listens on it, a broadcast may be lost
    // (and counted). Wait for every node to reach Redis, then probe until both members have
    // heard a probe sent after that; whatever probes were still on their way then drain
    // before a fence.
    for node in &nodes {
        health_until(&node.adapter, "every node to reach Redis", |h| {
            h.redis_connected
        })
        .await;
    }
    let (mut a_heard, mut b_heard) = (false, false);
    within(
        "a broadcast to reach both members after the restart",
        async {
            for n in 0.. {
                nodes[2]
                    .server
                    .to("room")
                    .emit("news", format!("probe{n}"))
                    .unwrap();
                let wait = Duration::from_millis(200);
                a_heard |= tokio::time::timeout(wait, a_news.recv()).await.is_ok();
                b_heard |= tokio::time::timeout(wait, b_news.recv()).await.is_ok();
                if a_heard && b_heard {
                    return;
                }
            }
        },
    )
    .await;
    nodes[2].server.to("room").emit("news", "fence").unwrap();
    for news in [&mut a_news, &mut b_news] {
        while next(news, 1).await != ["fence"] {}
    }
    for text in numbered("after", 30) {
        nodes[2].server.to("room").emit("news", &text).unwrap();
    }
    assert_eq!(next(&mut a_news, 30).await, numbered("after", 30));
    assert_eq!(next(&mut b_news, 30).await, numbered("after", 30));
}
