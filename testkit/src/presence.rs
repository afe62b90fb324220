//! Presence: multi-device keys, snapshots, diffs and cleanup.

use std::sync::Arc;

use quicket_proto::{Frame, Ping, PresenceSubscribe};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::{Harness, TestServer, within};
use quicket_core::{AckSender, Client, Data, PresenceEvent, PresenceWatch, Socket};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Device {
    name: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Track {
    room: String,
    user: String,
    device: String,
}

/// One socket tracking `keys` keys in a room, each with a meta of about `meta_bytes`.
#[derive(Debug, Serialize, Deserialize)]
struct Crowd {
    room: String,
    keys: usize,
    meta_bytes: usize,
}

fn presence_handlers(socket: &Socket) {
    socket.on(
        "enter",
        |socket: Socket, Data(t): Data<Track>, ack: AckSender| async move {
            socket.join(t.room.as_str()).unwrap();
            socket
                .presence(&t.room)
                .track(&t.user, Device { name: t.device })
                .unwrap();
            ack.send(()).unwrap();
        },
    );
    socket.on(
        "crowd",
        |socket: Socket, Data(c): Data<Crowd>, ack: AckSender| async move {
            socket.join(c.room.as_str()).unwrap();
            for n in 0..c.keys {
                let meta = Device {
                    name: format!("{n:02}{}", "x".repeat(c.meta_bytes)),
                };
                socket
                    .presence(&c.room)
                    .track(&format!("user-{n:02}"), meta)
                    .unwrap();
            }
            ack.send(()).unwrap();
        },
    );
    socket.on(
        "join-only",
        |socket: Socket, Data(room): Data<String>, ack: AckSender| async move {
            socket.join(room).unwrap();
            ack.send(()).unwrap();
        },
    );
    socket.on(
        "untrack",
        |socket: Socket, Data(t): Data<Track>, ack: AckSender| async move {
            socket.presence(&t.room).untrack(&t.user);
            ack.send(()).unwrap();
        },
    );
    socket.on(
        "leave",
        |socket: Socket, Data(room): Data<String>, ack: AckSender| async move {
            socket.leave(&room);
            ack.send(()).unwrap();
        },
    );
}

async fn enter(client: &Client, room: &str, user: &str, device: &str) {
    let track = Track {
        room: room.into(),
        user: user.into(),
        device: device.into(),
    };
    within("enter", client.emit_with_ack::<()>("enter", &track))
        .await
        .unwrap();
}

async fn event(watch: &mut PresenceWatch) -> PresenceEvent {
    within("a presence event", watch.next())
        .await
        .expect("subscription alive")
}

fn device(name: &str) -> bytes::Bytes {
    quicket_core::PayloadCodec::Bincode
        .encode(&Device { name: name.into() })
        .unwrap()
}

/// Presence: a snapshot, then diffs, with one key over several devices.
pub async fn presence_snapshot_and_multi_device_diffs<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s| async move {
        presence_handlers(&s);
    })
    .await;
    let (watcher, _) = t.connect().await;
    let (phone, _) = t.connect().await;
    enter(&phone, "lobby", "u1", "phone").await;
    within("join", watcher.emit_with_ack::<()>("join-only", "lobby"))
        .await
        .unwrap();

    let mut watch = watcher.subscribe_presence("lobby").unwrap();
    assert_eq!(event(&mut watch).await, PresenceEvent::Sync);
    let state = watch.state();
    assert_eq!(state.keys().collect::<Vec<_>>(), ["u1"]);
    assert_eq!(
        state.metas::<Device>("u1").unwrap(),
        [Device {
            name: "phone".into()
        }]
    );

    let (laptop, _) = t.connect().await;
    enter(&laptop, "lobby", "u1", "laptop").await;
    assert_eq!(
        event(&mut watch).await,
        PresenceEvent::Join {
            key: "u1".into(),
            meta: device("laptop"),
            first: false
        },
        "a second device is a second meta of the same key"
    );
    let (other, _) = t.connect().await;
    enter(&other, "lobby", "u2", "tablet").await;
    let joined = event(&mut watch).await;
    assert_eq!(
        joined,
        PresenceEvent::Join {
            key: "u2".into(),
            meta: device("tablet"),
            first: true
        }
    );
    if let PresenceEvent::Join { meta, .. } = &joined {
        let typed: Device = watch.decode_meta(meta).unwrap();
        assert_eq!(
            typed.name, "tablet",
            "the meta decodes as the type it was tracked as"
        );
    }

    // An update replaces the connection's meta: the old one leaves, the new one joins.
    enter(&laptop, "lobby", "u1", "laptop-docked").await;
    assert_eq!(
        event(&mut watch).await,
        PresenceEvent::Leave {
            key: "u1".into(),
            meta: device("laptop"),
            last: false
        }
    );
    assert_eq!(
        event(&mut watch).await,
        PresenceEvent::Join {
            key: "u1".into(),
            meta: device("laptop-docked"),
            first: false
        }
    );
    let listed = t.server.presence("lobby").await;
    assert_eq!(
        listed
            .iter()
            .map(|k| (k.key.as_str(), k.metas.len()))
            .collect::<Vec<_>>(),
        [("u1", 2), ("u2", 1)]
    );

    phone.disconnect().await;
    assert_eq!(
        event(&mut watch).await,
        PresenceEvent::Leave {
            key: "u1".into(),
            meta: device("phone"),
            last: false
        }
    );
    laptop.disconnect().await;
    assert_eq!(
        event(&mut watch).await,
        PresenceEvent::Leave {
            key: "u1".into(),
            meta: device("laptop-docked"),
            last: true
        }
    );
    let untrack = Track {
        room: "lobby".into(),
        user: "u2".into(),
        device: String::new(),
    };
    within("untrack", other.emit_with_ack::<()>("untrack", &untrack))
        .await
        .unwrap();
    assert_eq!(
        event(&mut watch).await,
        PresenceEvent::Leave {
            key: "u2".into(),
            meta: device("tablet"),
            last: true
        }
    );
    assert!(watch.state().is_empty());
    assert!(t.server.presence("lobby").await.is_empty());
}

/// A room whose state is larger than the subscriber's frame limit arrives whole, in parts
/// that each fit; diffs follow as usual.
pub async fn presence_state_larger_than_a_frame_arrives_whole<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s| async move {
        presence_handlers(&s);
    })
    .await;
    let (member, _) = t.connect().await;
    let crowd = Crowd {
        room: "stadium".into(),
        keys: 16,
        meta_bytes: 800,
    };
    within("crowd", member.emit_with_ack::<()>("crowd", &crowd))
        .await
        .unwrap();
    // 16 metas of 800 bytes: about 13 KiB of state for a client that takes 4 KiB frames.
    let limits = quicket_core::ConnectionLimits::default().max_frame_size(4096);
    let config = quicket_core::ClientConfig::default().limits(limits);
    let (watcher, _) = t.connect_with(Client::builder().config(config)).await;
    within("join", watcher.emit_with_ack::<()>("join-only", "stadium"))
        .await
        .unwrap();
    let mut watch = watcher.subscribe_presence("stadium").unwrap();
    assert_eq!(event(&mut watch).await, PresenceEvent::Sync);
    let state = watch.state();
    assert_eq!(state.len(), 16, "every key, none twice");
    let metas: Vec<Device> = state.metas("user-07").unwrap();
    assert_eq!(metas[0].name, format!("07{}", "x".repeat(800)));

    enter(&watcher, "stadium", "watcher", "pc").await;
    assert!(matches!(
        event(&mut watch).await,
        PresenceEvent::Join { first: true, .. }
    ));
    assert_eq!(watch.state().len(), 17);
}

/// In a room the server counts only, a subscriber gets the counts of keys and connections,
/// first and after every change, and no keys; other rooms still list theirs.
pub async fn presence_counts_only_room_sends_counts<H: Harness>(harness: &H) {
    let builder = harness
        .builder()
        .await
        .presence_counts_only(|room| room == "stadium");
    let mut t = TestServer::start(harness, builder, |s| async move {
        presence_handlers(&s);
    })
    .await;
    let (a, _) = t.connect().await;
    let (b, _) = t.connect().await;
    enter(&a, "stadium", "alice", "pc").await;
    enter(&a, "stadium", "bob", "pc").await;
    enter(&b, "stadium", "alice", "phone").await;
    let counted = |event: &PresenceEvent, keys: u64, connections: u64| matches!(event, PresenceEvent::Count(c) if c.keys == keys && c.connections == connections);
    let mut watch = b.subscribe_presence("stadium").unwrap();
    let first = event(&mut watch).await;
    assert!(counted(&first, 2, 3), "{first:?}");
    assert!(watch.state().is_empty(), "no keys in a counted room");
    assert_eq!(watch.state().counts().map(|c| c.keys), Some(2));

    // a leaves: bob goes, and alice keeps one connection.
    within("leave", a.emit_with_ack::<()>("leave", "stadium"))
        .await
        .unwrap();
    let next = event(&mut watch).await;
    assert!(counted(&next, 1, 1), "{next:?}");

    // Another room lists its keys as usual.
    enter(&b, "hall", "carol", "pc").await;
    let mut hall = b.subscribe_presence("hall").unwrap();
    assert_eq!(event(&mut hall).await, PresenceEvent::Sync);
    assert!(hall.state().contains("carol"));
    assert_eq!(hall.state().counts(), None);
}

/// A presence subscription outside the socket's rooms is refused, not fatal.
pub async fn presence_refused_outside_room<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s| async move {
        presence_handlers(&s);
    })
    .await;
    let (client, _) = t.connect().await;
    let mut watch = client.subscribe_presence("secret").unwrap();
    assert!(matches!(event(&mut watch).await, PresenceEvent::Ended(_)));
    assert!(within("end of watch", watch.next()).await.is_none());
    assert!(client.connected());
}

/// Leaving a room removes its presence and ends its subscription.
pub async fn presence_cleaned_when_socket_leaves_room<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s| async move {
        presence_handlers(&s);
    })
    .await;
    let (watcher, _) = t.connect().await;
    let (member, _) = t.connect().await;
    within("join", watcher.emit_with_ack::<()>("join-only", "hall"))
        .await
        .unwrap();
    let mut watch = watcher.subscribe_presence("hall").unwrap();
    assert_eq!(event(&mut watch).await, PresenceEvent::Sync);
    enter(&member, "hall", "m", "pc").await;
    assert!(matches!(
        event(&mut watch).await,
        PresenceEvent::Join { first: true, .. }
    ));
    within("leave", member.emit_with_ack::<()>("leave", "hall"))
        .await
        .unwrap();
    assert_eq!(
        event(&mut watch).await,
        PresenceEvent::Leave {
            key: "m".into(),
            meta: device("pc"),
            last: true
        }
    );
    // The watcher leaving ends its own subscription.
    within("leave", watcher.emit_with_ack::<()>("leave", "hall"))
        .await
        .unwrap();
    assert!(matches!(event(&mut watch).await, PresenceEvent::Ended(_)));
}

/// Unsubscribing and subscribing again yields a working subscription.
pub async fn presence_resubscribe_after_unsubscribe<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s| async move {
        presence_handlers(&s);
    })
    .await;
    let (client, _) = t.connect().await;
    enter(&client, "den", "me", "pc").await;
    let mut first = client.subscribe_presence("den").unwrap();
    assert_eq!(event(&mut first).await, PresenceEvent::Sync);
    client.unsubscribe_presence("den").unwrap();
    assert!(within("the old watch to end", first.next()).await.is_none());
    let mut second = client.subscribe_presence("den").unwrap();
    assert_eq!(event(&mut second).await, PresenceEvent::Sync);
    assert!(second.state().contains("me"));
    let (other, _) = t.connect().await;
    enter(&other, "den", "you", "phone").await;
    assert!(matches!(
        event(&mut second).await,
        PresenceEvent::Join { first: true, .. }
    ));
    // A key with one meta that updates neither leaves nor joins.
    enter(&client, "den", "me", "laptop").await;
    assert_eq!(
        event(&mut second).await,
        PresenceEvent::Leave {
            key: "me".into(),
            meta: device("pc"),
            last: false
        }
    );
    assert_eq!(
        event(&mut second).await,
        PresenceEvent::Join {
            key: "me".into(),
            meta: device("laptop"),
            first: false
        }
    );
}

/// A presence subscription sent right after the handshake waits for the connect handler,
/// which joins the room after an await: the client gets the room's state, not a refusal.
pub async fn presence_subscribe_waits_for_the_connect_handler<H: Harness>(harness: &H) {
    let gate = Arc::new(Notify::new());
    let opened = Arc::clone(&gate);
    let t = TestServer::start(harness, harness.builder().await, move |socket| {
        let opened = Arc::clone(&opened);
        async move {
            opened.notified().await;
            socket.join("lobby").unwrap();
        }
    })
    .await;
    let mut raw = t.raw().await;
    raw.handshake().await;
    let subscribe = PresenceSubscribe {
        room: "lobby".into(),
    };
    raw.send(&Frame::PresenceSubscribe(subscribe)).await;
    raw.send(&Frame::Ping(Ping { id: 7 })).await;
    // Frames arrive in order: once the pong is back, the server has read the subscription,
    // while its connect handler still waits.
    let pong = raw
        .recv_until(|frame| matches!(frame, Frame::Pong(pong) if pong.id == 7))
        .await;
    assert!(pong.is_some(), "the pong came back");
    gate.notify_one();
    let answer = raw
        .recv_until(|frame| matches!(frame, Frame::PresenceState(_) | Frame::PresenceEnd(_)))
        .await;
    assert!(
        matches!(&answer, Some(Frame::PresenceState(state)) if state.room == "lobby"),
        "{answer:?}"
    );
}
