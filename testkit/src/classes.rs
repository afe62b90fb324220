//! Delivery classes (PROTOCOL.md section 2.3): unordered events arrive exactly once, sequenced
//! and latest values never go backwards, and a peer without the classes gets plain events.

use std::collections::HashMap;

use quicket_core::{Client, Data, Socket};
use quicket_proto::{ChannelOffer, Frame, Hello, PayloadCodec, Sequenced};
use tokio::sync::mpsc;

use super::{Harness, RawPeer, TestServer, within};

/// Values a scenario sends of each class.
const VALUES: u64 = 60;

/// A server emits every class to a room; the client gets each unordered event exactly once,
/// and the sequenced and latest values strictly increasing, the newest latest value last.
pub async fn every_class_reaches_the_client<H: Harness>(harness: &H) {
    let builder = harness.builder().await;
    let mut test = TestServer::start(harness, builder, |socket: Socket| async move {
        socket.join("match").unwrap();
    })
    .await;
    let (tx, mut rx) = mpsc::unbounded_channel::<(&'static str, u64)>();
    let mut client = Client::builder();
    for name in ["unordered", "sequenced", "latest", "fence"] {
        let tx = tx.clone();
        client = client.on(name, move |Data(n): Data<u64>| {
            let _ = tx.send((name, n));
            async {}
        });
    }
    let (client, _socket) = test.connect_with(client).await;
    let room = || test.server.to("match");
    for n in 1..=VALUES {
        assert_eq!(room().unordered().emit("unordered", n).unwrap(), 1);
        room().sequenced().emit("sequenced", n).unwrap();
        room().latest("player-1").emit("latest", n).unwrap();
    }
    let mut seen: HashMap<&str, Vec<u64>> = HashMap::new();
    within("every unordered event and the newest latest value", async {
        let done = |seen: &HashMap<&str, Vec<u64>>| {
            seen.get("unordered").map_or(0, Vec::len) == VALUES as usize
                && seen.get("latest").and_then(|v| v.last()) == Some(&VALUES)
        };
        while !done(&seen) {
            let (name, n) = rx.recv().await.unwrap();
            seen.entry(name).or_default().push(n);
        }
    })
    .await;
    let mut unordered = seen.remove("unordered").unwrap_or_default();
    unordered.sort_unstable();
    assert_eq!(
        unordered,
        (1..=VALUES).collect::<Vec<_>>(),
        "each exactly once"
    );
    for name in ["latest", "sequenced"] {
        let values = seen.remove(name).unwrap_or_default();
        assert!(
            values.windows(2).all(|w| w[0] < w[1]),
            "{name} went backwards or repeated: {values:?}"
        );
    }
    client.disconnect().await;
}

/// A client's sequenced and latest emits reach the server's handlers strictly increasing.
pub async fn client_sequenced_emits_never_go_backwards<H: Harness>(harness: &H) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(&'static str, u64)>();
    let builder = harness.builder().await;
    let mut test = TestServer::start(harness, builder, move |socket: Socket| {
        for name in ["reading", "state"] {
            let tx = tx.clone();
            socket.on(name, move |Data(n): Data<u64>| {
                let _ = tx.send((name, n));
                async {}
            });
        }
        async {}
    })
    .await;
    let (client, _socket) = test.connect().await;
    for n in 1..=VALUES {
        client.sequenced().emit("reading", n).unwrap();
        client.latest("sensor-1").emit("state", n).unwrap();
    }
    // A client's latest values take its ordered stream, so each one arrives: a fence for the
    // readings, datagrams that may be lost. Until a reading has come, one more of each goes,
    // and the next state is waited for.
    let mut seen: HashMap<&str, Vec<u64>> = HashMap::new();
    let mut last = VALUES;
    within("a reading, and the newest state", async {
        loop {
            while seen.get("state").and_then(|v| v.last()) != Some(&last) {
                let (name, n) = rx.recv().await.unwrap();
                seen.entry(name).or_default().push(n);
            }
            if seen.contains_key("reading") {
                break;
            }
            last += 1;
            client.sequenced().emit("reading", last).unwrap();
            client.latest("sensor-1").emit("state", last).unwrap();
        }
    })
    .await;
    for (name, values) in seen {
        assert!(
            values.windows(2).all(|w| w[0] < w[1]),
            "{name} went backwards or repeated: {values:?}"
        );
    }
    client.disconnect().await;
}

/// The server drops a `Sequenced` at or below the newest of its name and key, and keeps
/// each pair's order apart.
pub async fn the_server_drops_stale_sequenced_values<H: Harness>(harness: &H) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, u64)>();
    let builder = harness.builder().await;
    let test = TestServer::start(harness, builder, move |socket: Socket| {
        let tx = tx.clone();
        socket.on("pos", move |Data((who, n)): Data<(String, u64)>| {
            let _ = tx.send((who, n));
            async {}
        });
        async {}
    })
    .await;
    let mut raw = test.raw().await;
    let welcome = raw_handshake(&mut raw, true).await;
    assert!(welcome, "the server agrees the classes");
    let sends = [
        ("a", 5),
        ("a", 3),
        ("a", 5),
        ("b", 1),
        ("a", 7),
        ("b", 1),
        ("b", 2),
        ("a", 6),
        ("a", 8),
    ];
    for (key, seq) in sends {
        let data = PayloadCodec::Bincode.encode(&(key, seq)).unwrap();
        let frame = Frame::Sequenced(Sequenced {
            name: "pos".into(),
            key: key.into(),
            seq,
            data,
        });
        raw.send(&frame).await;
    }
    let mut handled = Vec::new();
    within("the fresh values", async {
        // Channel 0 keeps the order: once the last fresh value is handled, any stale one
        // before it would have been handled too.
        while handled.last() != Some(&("a".to_owned(), 8)) {
            handled.push(rx.recv().await.unwrap());
        }
    })
    .await;
    let expected = [("a", 5), ("b", 1), ("a", 7), ("b", 2), ("a", 8)];
    let expected: Vec<(String, u64)> = expected.iter().map(|(k, n)| ((*k).into(), *n)).collect();
    assert_eq!(
        handled, expected,
        "stale values dropped, each key on its own"
    );
}

/// A peer that does not speak the classes gets every class as plain `Event` frames.
pub async fn a_peer_without_classes_gets_plain_events<H: Harness>(harness: &H) {
    let builder = harness.builder().await;
    let test = TestServer::start(harness, builder, |socket: Socket| async move {
        socket.join("match").unwrap();
    })
    .await;
    let mut raw = test.raw().await;
    assert!(!raw_handshake(&mut raw, false).await, "no classes granted");
    let mut test = test;
    let _socket = test.next_socket().await;
    let room = || test.server.to("match");
    room().unordered().emit("u", 1u64).unwrap();
    room().latest("k").emit("l", 2u64).unwrap();
    room().sequenced().emit("s", 3u64).unwrap();
    room().emit("fence", 4u64).unwrap();
    let mut names = Vec::new();
    within("the plain events", async {
        while let Some(frame) = raw.recv().await {
            match frame {
                Frame::Event(event) if event.name == "fence" => break,
                Frame::Event(event) => names.push(event.name),
                Frame::Sequenced(stamped) => panic!("a Sequenced without the classes: {stamped:?}"),
                _ => {}
            }
        }
    })
    .await;
    // The sequenced one is volatile, so it may be dropped; the reliable ones are there.
    assert!(
        names.contains(&"u".to_owned()),
        "unordered as an event: {names:?}"
    );
    assert!(
        names.contains(&"l".to_owned()),
        "latest as an event: {names:?}"
    );
}

/// Sends a Hello that offers no channels and the classes or not; whether the grant agreed them.
async fn raw_handshake<C: quicket_core::transport::Connection>(
    raw: &mut RawPeer<C>,
    classes: bool,
) -> bool {
    let Frame::Hello(hello) = RawPeer::<C>::hello() else {
        unreachable!("a Hello")
    };
    let offer = ChannelOffer {
        max_channels: 0,
        offsets: Vec::new(),
        classes,
    };
    let hello = Hello {
        channels: Some(offer),
        ..hello
    };
    raw.send(&Frame::Hello(hello)).await;
    match raw.recv().await {
        Some(Frame::Welcome(welcome)) => welcome.channels.is_some_and(|grant| grant.classes),
        other => panic!("expected the Welcome, got {other:?}"),
    }
}
