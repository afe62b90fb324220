//! Three quicket nodes in one process share one Redis, with clients on each over WebTransport
//! and WebSocket: broadcast, its operators, acks, sockets by room, server-side events and
//! presence behave as one server. Every test runs twice: on one Redis, and (in `on_cluster`)
//! on a three-shard Redis Cluster, where order holds per channel, so each test's markers
//! travel on the channel of what they follow.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

mod support;

use std::time::Duration;

use quicket::{AckError, AckSender, Client, Data, PresenceEvent, Socket};
use tokio::sync::mpsc;

use support::{Backend, Enter, Node, config, enter, health_until, unique_prefix, within};

/// Three nodes whose sockets `enter` rooms (tracking their name as presence in each;
/// answered once the node hears those rooms' broadcasts) and `shout` to the room `room`.
async fn three_nodes(cluster: bool, test: &str) -> (Backend, Vec<Node>) {
    let backend = Backend::get(cluster).await;
    let prefix = unique_prefix(test);
    let mut nodes = Vec::new();
    for index in 0..3u8 {
        let adapter = backend.adapter(config(&prefix)).await;
        let settle = adapter.clone();
        let node = Node::serve(adapter, move |builder| {
            builder.on_connect(move |socket: Socket| {
                let settle = settle.clone();
                async move {
                    socket.on(
                        "enter",
                        move |socket: Socket, Data(enter): Data<Enter>, ack: AckSender| {
                            let settle = settle.clone();
                            async move {
                                socket.set_data(&enter.name).unwrap();
                                for room in &enter.rooms {
                                    socket.join(room.as_str()).unwrap();
                                    socket.presence(room).track(&enter.name, index).unwrap();
                                }
                                settle.subscriptions_settled().await;
                                let _ = ack.send(());
                            }
                        },
                    );
                    socket.on(
                        "shout",
                        |socket: Socket, Data(text): Data<String>, ack: AckSender| async move {
                            socket.to("room").emit("news", &text).unwrap();
                            let _ = ack.send(());
                        },
                    );
                }
            })
        })
        .await;
        nodes.push(node);
    }
    for node in &nodes {
        health_until(&node.adapter, "every node to know the others", |h| {
            h.peers >= 2
        })
        .await;
    }
    (backend, nodes)
}

/// A client, what it has received of `news`, and its name.
struct Member {
    client: Client,
    name: String,
    news: mpsc::Receiver<String>,
}

impl Member {
    /// Connects `name` to `node` (over WebSocket when `ws`), entering `rooms`. Its `ask`
    /// handler answers with its name, after `delay`.
    async fn join(node: &Node, name: &str, ws: bool, rooms: &[&str], delay: Duration) -> Self {
        let (tx, news) = mpsc::channel(1024);
        let answer = name.to_owned();
        let builder = Client::builder()
            .on("news", move |Data(text): Data<String>| {
                tx.try_send(text).unwrap();
                async {}
            })
            .on("ask", move |ack: AckSender| {
                let answer = answer.clone();
                async move {
                    tokio::time::sleep(delay).await;
                    let _ = ack.send(answer);
                }
            });
        let client = node.connect(builder, ws).await;
        enter(&client, name, rooms).await;
        Self {
            client,
            name: name.to_owned(),
            news,
        }
    }

    /// What arrived up to and including `marker`.
    async fn until(&mut self, marker: &str) -> Vec<String> {
        let mut seen = Vec::new();
        while seen.last().map(String::as_str) != Some(marker) {
            let text = within(&format!("{} to get {marker}", self.name), self.news.recv())
                .await
                .expect("the client runs");
            seen.push(text);
        }
        seen
    }
}

/// Two members on each node, one over WebTransport and one over WebSocket; the second of
/// each pair is also in `vip`.
async fn six_members(nodes: &[Node], delay: Duration) -> Vec<Member> {
    let mut members = Vec::new();
    for (index, node) in nodes.iter().enumerate() {
        members.push(Member::join(node, &format!("n{index}a"), false, &["room"], delay).await);
        members
            .push(Member::join(node, &format!("n{index}b"), true, &["room", "vip"], delay).await);
    }
    members
}

async fn room_broadcast_reaches_every_member_on_every_node_once(cluster: bool) {
    let (_redis, nodes) = three_nodes(cluster, "broadcast").await;
    let mut members = six_members(&nodes, Duration::ZERO).await;
    let mut outsider = Member::join(&nodes[1], "outsider", false, &["other"], Duration::ZERO).await;

    nodes[0].server.to("room").emit("news", "hello").unwrap();
    nodes[0].server.to("room").emit("news", "marker").unwrap();
    nodes[0].server.to("other").emit("news", "marker").unwrap();
    for member in &mut members {
        assert_eq!(
            member.until("marker").await,
            ["hello", "marker"],
            "{}",
            member.name
        );
    }
    assert_eq!(outsider.until("marker").await, ["marker"]);

    // From a socket's handler on node 1: everyone in the room but the sender.
    within(
        "shout",
        members[2].client.emit_with_ack::<()>("shout", "hi"),
    )
    .await
    .unwrap();
    nodes[1].server.to("room").emit("news", "marker2").unwrap();
    for (at, member) in members.iter_mut().enumerate() {
        let expected: &[&str] = if at == 2 {
            &["marker2"]
        } else {
            &["hi", "marker2"]
        };
        assert_eq!(member.until("marker2").await, expected, "{}", member.name);
    }
}

async fn except_local_and_volatile_hold_across_nodes(cluster: bool) {
    let (_redis, nodes) = three_nodes(cluster, "operators").await;
    let mut members = six_members(&nodes, Duration::ZERO).await;

    nodes[0]
        .server
        .to("room")
        .except("vip")
        .emit("news", "plain")
        .unwrap();
    nodes[0]
        .server
        .to("room")
        .local()
        .emit("news", "local")
        .unwrap();
    nodes[0].server.to("room").emit("news", "marker").unwrap();
    let expected: [&[&str]; 6] = [
        &["plain", "local", "marker"],
        &["local", "marker"],
        &["plain", "marker"],
        &["marker"],
        &["plain", "marker"],
        &["marker"],
    ];
    for (member, expected) in members.iter_mut().zip(expected) {
        assert_eq!(member.until("marker").await, expected, "{}", member.name);
    }

    // Volatile crosses nodes too (as a datagram on WebTransport, so its order against
    // reliable events is not kept: each member just gets it).
    nodes[0]
        .server
        .to("room")
        .volatile()
        .emit("news", "vol")
        .unwrap();
    for member in &mut members {
        member.until("vol").await;
    }
}

async fn broadcast_acks_aggregate_across_nodes_and_time_out_as_one(cluster: bool) {
    let (_redis, nodes) = three_nodes(cluster, "acks").await;
    let members = six_members(&nodes, Duration::ZERO).await;
    let slow = Member::join(&nodes[2], "slow", true, &["room"], Duration::from_secs(30)).await;

    let timeout = Duration::from_secs(2);
    let started = tokio::time::Instant::now();
    let replies = within(
        "the acks",
        nodes[0]
            .server
            .to("room")
            .timeout(timeout)
            .emit_with_ack::<String, _>("ask", ()),
    )
    .await
    .unwrap();
    let waited = started.elapsed();
    assert_eq!(replies.len(), 7, "one reply per member, from every node");
    let mut names: Vec<String> = replies
        .iter()
        .filter_map(|(_, reply)| reply.as_ref().ok().cloned())
        .collect();
    names.sort();
    let mut expected: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    expected.sort();
    assert_eq!(names, expected);
    let (_, late) = replies
        .iter()
        .find(|(sid, _)| *sid == slow.client.id())
        .expect("the slow member is listed");
    assert!(matches!(late, Err(AckError::Timeout(_))), "{late:?}");
    assert!(waited < timeout + Duration::from_secs(2), "took {waited:?}");
}

async fn fetch_sockets_and_remote_join_leave_disconnect(cluster: bool) {
    let (_redis, nodes) = three_nodes(cluster, "sockets").await;
    let mut members = six_members(&nodes, Duration::ZERO).await;

    let fetched = nodes[1].server.to("room").fetch_sockets().await;
    let mut names: Vec<String> = fetched
        .iter()
        .map(|info| info.data::<String>().unwrap().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["n0a", "n0b", "n1a", "n1b", "n2a", "n2b"]);
    for info in &fetched {
        let member = members.iter().find(|m| m.client.id() == info.id).unwrap();
        assert!(
            info.rooms.iter().any(|r| r.as_str() == "room"),
            "{}",
            member.name
        );
    }

    nodes[0].server.to("vip").join("extra").await;
    let extra = nodes[2].server.to("extra").fetch_sockets().await;
    assert_eq!(extra.len(), 3);
    nodes[0].server.to("extra").emit("news", "extra").unwrap();
    nodes[0].server.to("extra").emit("news", "marker").unwrap();
    nodes[0]
        .server
        .to("room")
        .except("vip")
        .emit("news", "marker")
        .unwrap();
    for member in &mut members {
        let expected: &[&str] = if member.name.ends_with('b') {
            &["extra", "marker"]
        } else {
            &["marker"]
        };
        assert_eq!(member.until("marker").await, expected, "{}", member.name);
    }

    nodes[1].server.to("extra").leave("extra").await;
    assert!(nodes[0].server.to("extra").fetch_sockets().await.is_empty());

    nodes[0].server.to("vip").disconnect().await;
    for member in members.iter().filter(|m| m.name.ends_with('b')) {
        let reason = within("a remote disconnect", member.client.closed()).await;
        assert_eq!(
            reason,
            quicket::DisconnectReason::ServerDisconnect,
            "{}",
            member.name
        );
    }
    let left = nodes[2].server.to("room").fetch_sockets().await;
    assert_eq!(left.len(), 3);
}

async fn server_side_events_reach_the_other_nodes(cluster: bool) {
    let (_redis, nodes) = three_nodes(cluster, "server-events").await;
    for (index, node) in nodes.iter().enumerate().skip(1) {
        node.adapter.on_server_event(
            "whoami",
            move |n: u32| async move { format!("node{index}:{n}") },
        );
    }
    let (tx, mut notes) = mpsc::channel(4);
    nodes[2]
        .adapter
        .on_server_event("note", move |text: String| {
            let tx = tx.clone();
            async move {
                tx.send(text).await.unwrap();
            }
        });

    let replies = nodes[0]
        .adapter
        .server_emit_with_ack::<String>("whoami", 7u32, Duration::from_secs(5))
        .await
        .unwrap();
    let mut answers: Vec<String> = replies.into_iter().map(|r| r.reply.unwrap()).collect();
    answers.sort();
    assert_eq!(answers, ["node1:7", "node2:7"]);

    nodes[1]
        .adapter
        .server_emit("note", "hi from node 1")
        .unwrap();
    assert_eq!(
        within("the note", notes.recv()).await.unwrap(),
        "hi from node 1"
    );
}

async fn presence_snapshots_and_diffs_agree_on_every_node(cluster: bool) {
    let (_redis, nodes) = three_nodes(cluster, "presence").await;
    let members = six_members(&nodes, Duration::ZERO).await;
    let all = ["n0a", "n0b", "n1a", "n1b", "n2a", "n2b"];

    // An observer on each node (itself tracked too): its view converges on the whole
    // cluster, nine keys.
    let mut watches = Vec::new();
    for (index, node) in nodes.iter().enumerate() {
        let name = format!("observer{index}");
        let observer = Member::join(node, &name, index == 1, &["room"], Duration::ZERO).await;
        let watch = observer.client.subscribe_presence("room").unwrap();
        watches.push((observer, watch));
    }
    for (observer, watch) in &mut watches {
        within(
            &format!("{} to see the whole cluster", observer.name),
            async {
                loop {
                    let state = watch.state();
                    if all.iter().all(|key| state.contains(key)) && state.len() == 9 {
                        return;
                    }
                    watch.next().await.expect("the subscription runs");
                }
            },
        )
        .await;
    }

    // A member on node 2 leaves: every observer hears the leave.
    members[5].client.disconnect().await;
    for (observer, watch) in &mut watches {
        within(&format!("{} to hear n2b leave", observer.name), async {
            loop {
                match watch.next().await.expect("the subscription runs") {
                    PresenceEvent::Leave {
                        key, last: true, ..
                    } if key == "n2b" => return,
                    _ => {}
                }
            }
        })
        .await;
        assert!(!watch.state().contains("n2b"));
        assert_eq!(watch.state().len(), 8);
    }
    // Every node's server lists the same presence.
    for node in &nodes {
        let keys = node.presence_keys("room").await;
        assert_eq!(keys.len(), 8, "{keys:?}");
    }
}

/// Each test, in `on_redis` on one Redis and in `on_cluster` on a three-shard Redis Cluster.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod on_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(false).await;
                }
            )*
        }
        mod on_cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(true).await;
                }
            )*
        }
    };
}

on_both!(
    room_broadcast_reaches_every_member_on_every_node_once,
    except_local_and_volatile_hold_across_nodes,
    broadcast_acks_aggregate_across_nodes_and_time_out_as_one,
    fetch_sockets_and_remote_join_leave_disconnect,
    server_side_events_reach_the_other_nodes,
    presence_snapshots_and_diffs_agree_on_every_node,
);
