//! Rooms and the broadcast operators.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Harness, TestServer, next, within};
use quicket_core::{AckError, AckSender, Client, Data, EventName, Socket};

fn room_handlers(socket: &Socket) {
    socket.on(
        "join",
        |socket: Socket, Data(room): Data<String>, ack: AckSender| async move {
            ack.send(socket.join(room).is_ok()).unwrap();
        },
    );
    socket.on(
        "leave",
        |socket: Socket, Data(room): Data<String>, ack: AckSender| async move {
            socket.leave(&room);
            ack.send(()).unwrap();
        },
    );
    socket.on(
        "to-room",
        |socket: Socket, Data(room): Data<String>, ack: AckSender| async move {
            socket.to(room).emit("msg", "from-peer").unwrap();
            ack.send(()).unwrap();
        },
    );
}

/// Every event a client receives, in order, as (name, payload).
fn inbox(client: &Client) -> mpsc::Receiver<(String, String)> {
    let (tx, rx) = mpsc::channel(1 << 16);
    client.on_fallback(
        move |EventName(name): EventName, Data(text): Data<String>| {
            tx.try_send((name, text)).expect("the test reads its inbox");
            async {}
        },
    );
    rx
}

async fn join(client: &Client, room: &str) {
    let joined: bool = within("join", client.emit_with_ack("join", room))
        .await
        .unwrap();
    assert!(joined);
}

/// The `msg` payloads received before the next `fence`: events on one connection are ordered,
/// so a fence sent after a broadcast proves what that broadcast delivered.
/// What arrived before the fence, sorted: each room's events may take a channel of their own
/// (PROTOCOL.md section 2.2), with no order across channels, so the fence, sent to every
/// socket, may overtake them; the wait goes on until `count` have come too.
async fn before_fence(rx: &mut mpsc::Receiver<(String, String)>, count: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut fenced = false;
    while !fenced || seen.len() < count {
        let (name, text) = next(rx, "an event before the fence").await;
        if name == "fence" {
            fenced = true;
        } else {
            seen.push(text);
        }
    }
    seen.sort();
    seen
}

/// `to`, `except`, `local` and `broadcast` reach exactly the sockets they name, once each.
pub async fn broadcast_operators<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s| async move {
        room_handlers(&s);
    })
    .await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (client, socket) = t.connect().await;
        let rx = inbox(&client);
        clients.push((client, socket, rx));
    }
    // a: r1   b: r1   c: r2   d: r1 + x
    join(&clients[0].0, "r1").await;
    join(&clients[1].0, "r1").await;
    join(&clients[2].0, "r2").await;
    join(&clients[3].0, "r1").await;
    join(&clients[3].0, "x").await;

    let server = &t.server;
    assert_eq!(server.to("r1").emit("msg", "to-r1").unwrap(), 3);
    assert_eq!(
        server.to("r1").except("x").emit("msg", "r1-not-x").unwrap(),
        2
    );
    assert_eq!(server.to("r1").to("r2").emit("msg", "r1-or-r2").unwrap(), 4);
    assert_eq!(server.emit("msg", "all").unwrap(), 4);
    assert_eq!(server.except("r1").emit("msg", "not-r1").unwrap(), 1);
    assert_eq!(server.to("r1").local().emit("msg", "local").unwrap(), 3);
    assert_eq!(server.to("nobody").emit("msg", "void").unwrap(), 0);
    within("to-room", clients[0].0.emit_with_ack::<()>("to-room", "r1"))
        .await
        .unwrap();
    assert_eq!(clients[0].1.broadcast().emit("msg", "not-a").unwrap(), 3);
    server.emit("fence", "").unwrap();

    let expected: [&[&str]; 4] = [
        &["to-r1", "r1-not-x", "r1-or-r2", "all", "local"],
        &[
            "to-r1",
            "r1-not-x",
            "r1-or-r2",
            "all",
            "local",
            "from-peer",
            "not-a",
        ],
        &["r1-or-r2", "all", "not-r1", "not-a"],
        &["to-r1", "r1-or-r2", "all", "local", "from-peer", "not-a"],
    ];
    for ((_, _, rx), want) in clients.iter_mut().zip(expected) {
        let mut want = want.to_vec();
        want.sort_unstable();
        assert_eq!(before_fence(rx, want.len()).await, want);
    }
}

/// Joining, leaving, listing rooms and their sockets, and cleanup on disconnect.
pub async fn rooms_join_leave_and_listing<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s| async move {
        room_handlers(&s);
    })
    .await;
    let (a, sa) = t.connect().await;
    let (b, sb) = t.connect().await;
    join(&a, "lobby").await;
    join(&b, "lobby").await;
    join(&a, "game").await;
    let rooms: BTreeSet<String> = sa.rooms().iter().map(|r| r.to_string()).collect();
    assert_eq!(
        rooms,
        BTreeSet::from(["lobby".to_string(), "game".to_string()])
    );
    let ids = |sockets: Vec<Socket>| sockets.into_iter().map(|s| s.id()).collect::<BTreeSet<_>>();
    assert_eq!(
        ids(t.server.to("lobby").sockets().await),
        BTreeSet::from([sa.id(), sb.id()])
    );
    let names = |rooms: Vec<quicket_core::Room>| {
        rooms.iter().map(|r| r.to_string()).collect::<BTreeSet<_>>()
    };
    assert_eq!(
        names(t.server.rooms().await),
        BTreeSet::from(["lobby".to_string(), "game".to_string()])
    );
    within("leave", a.emit_with_ack::<()>("leave", "lobby"))
        .await
        .unwrap();
    assert_eq!(
        ids(t.server.to("lobby").sockets().await),
        BTreeSet::from([sb.id()])
    );
    assert_eq!(t.server.to("lobby").emit("msg", "x").unwrap(), 1);
    b.disconnect().await;
    within("b to leave its rooms", sb.closed()).await;
    assert!(t.server.socket(sb.id()).is_none());
    assert!(t.server.to("lobby").sockets().await.is_empty());
    assert_eq!(
        names(t.server.rooms().await),
        BTreeSet::from(["game".to_string()]),
        "empty rooms go away"
    );
    assert_eq!(sa.rooms().len(), 1);
}

/// A broadcast with acks collects every reply and times out the silent.
pub async fn broadcast_with_acks_collects_and_times_out<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s| async move {
        room_handlers(&s);
    })
    .await;
    let mut ids = Vec::new();
    let mut clients = Vec::new();
    for i in 0..3u32 {
        let (client, socket) = t.connect().await;
        join(&client, "team").await;
        if i < 2 {
            client.on("vote", move |ack: AckSender| async move {
                ack.send(i).unwrap();
            });
        } else {
            client.on("vote", |ack: AckSender| async move {
                let _held = ack;
                std::future::pending::<()>().await;
            });
        }
        ids.push(socket.id());
        clients.push(client);
    }
    let replies = within(
        "broadcast acks",
        t.server
            .to("team")
            .timeout(Duration::from_millis(300))
            .emit_with_ack::<u32, _>("vote", ()),
    )
    .await
    .unwrap();
    assert_eq!(replies.len(), 3);
    for (i, id) in ids.iter().enumerate() {
        let (_, reply) = replies
            .iter()
            .find(|(sid, _)| sid == id)
            .expect("every socket has an outcome");
        if i < 2 {
            assert_eq!(reply, &Ok(i as u32));
        } else {
            assert_eq!(reply, &Err(AckError::Timeout(Duration::from_millis(300))));
        }
    }
}

/// Server-side operators move and disconnect the sockets they target.
pub async fn server_operators_join_and_disconnect<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s| async move {
        room_handlers(&s);
    })
    .await;
    let (a, _) = t.connect().await;
    let (b, _) = t.connect().await;
    let (c, _) = t.connect().await;
    join(&a, "red").await;
    join(&b, "red").await;
    join(&c, "blue").await;
    t.server.to("red").join("purple").await;
    assert_eq!(t.server.to("purple").sockets().await.len(), 2);
    t.server.to("purple").leave("red").await;
    assert!(t.server.to("red").sockets().await.is_empty());
    t.server.to("purple").disconnect().await;
    assert_eq!(
        within("a closed", a.closed()).await,
        quicket_core::DisconnectReason::ServerDisconnect
    );
    assert_eq!(
        within("b closed", b.closed()).await,
        quicket_core::DisconnectReason::ServerDisconnect
    );
    assert!(c.connected());
}

/// A client whose `connect` has returned is in the rooms its connect handler joined before
/// its first await, as a socket.io client is when it hears "connect": a broadcast made right
/// after reaches it, however long that synchronous part took.
pub async fn connected_client_is_in_the_rooms_its_handler_joined<H: Harness>(harness: &H) {
    let t = TestServer::start(harness, harness.builder().await, |socket: Socket| {
        // A blocking stand-in for slow setup work done before the handler's first await.
        std::thread::sleep(Duration::from_millis(100));
        socket.join("hall").unwrap();
        async {}
    })
    .await;
    let (tx, mut heard) = mpsc::unbounded_channel();
    let client = within(
        "connect",
        Client::builder()
            .on("said", move |Data(text): Data<String>| {
                let _ = tx.send(text);
                async {}
            })
            .connect(&t.connector),
    )
    .await
    .unwrap();
    assert_eq!(
        t.server.to("hall").emit("said", "welcome").unwrap(),
        1,
        "the new client is in the hall"
    );
    assert_eq!(within("said", heard.recv()).await.unwrap(), "welcome");
    drop(client);
}
