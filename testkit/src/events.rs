//! Named events, acknowledgements and payload codecs.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{Harness, TestServer, collect, next, within};
use quicket_core::{
    AckError, AckSender, Binary, Client, Data, EventName, PayloadCodec, Raw, Socket,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Move {
    player: String,
    x: i32,
    y: i32,
    tags: Vec<String>,
}

fn echo_handlers(socket: &Socket) {
    socket.on(
        "echo",
        |Data(text): Data<String>, ack: AckSender| async move {
            ack.send(text).unwrap();
        },
    );
    socket.on("move", |Data(mv): Data<Move>, ack: AckSender| async move {
        ack.send(Move { x: mv.x + 1, ..mv }).unwrap();
    });
    socket.on("raw", |Data(raw): Data<Raw>, ack: AckSender| async move {
        ack.send(raw).unwrap();
    });
    socket.on(
        "reverse",
        |Data(Binary(bytes)): Data<Binary>, ack: AckSender| async move {
            let reversed: Vec<u8> = bytes.iter().rev().copied().collect();
            ack.send(Binary(reversed.into())).unwrap();
        },
    );
}

/// Events with acks round-trip typed payloads, in order.
pub async fn ack_roundtrip<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s| async move {
        echo_handlers(&s);
    })
    .await;
    let (client, _) = t.connect().await;
    for i in 0..20 {
        let reply: String = within("echo ack", client.emit_with_ack("echo", format!("hi {i}")))
            .await
            .unwrap();
        assert_eq!(reply, format!("hi {i}"));
    }
    let mv = Move {
        player: "ada".into(),
        x: -3,
        y: 7,
        tags: vec!["a".into()],
    };
    let back: Move = within("move ack", client.emit_with_ack("move", &mv))
        .await
        .unwrap();
    assert_eq!(back, Move { x: -2, ..mv });
}

/// A JSON client is served in JSON, with the same handlers as a bincode one.
pub async fn json_codec_roundtrip<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s| async move {
        echo_handlers(&s);
    })
    .await;
    let (client, socket) = t
        .connect_with(Client::builder().codec(PayloadCodec::Json))
        .await;
    assert_eq!(socket.codec(), PayloadCodec::Json);
    let mv = Move {
        player: "hé 🎮".into(),
        x: 1,
        y: 2,
        tags: vec![],
    };
    let back: Move = within("json move ack", client.emit_with_ack("move", &mv))
        .await
        .unwrap();
    assert_eq!(back.x, 2);
    // A JSON peer's payload is JSON text on the wire: a raw reply shows the exact bytes.
    let raw: Raw = within("raw json", client.emit_with_ack("echo", "x"))
        .await
        .unwrap();
    assert_eq!(raw.0, Bytes::from_static(b"\"x\""));
}

/// `Raw` bytes cross untouched with every codec.
pub async fn raw_payload_passes_through<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s| async move {
        echo_handlers(&s);
    })
    .await;
    for codec in PayloadCodec::ALL {
        let (client, _) = t.connect_with(Client::builder().codec(codec)).await;
        let blob = Bytes::from((0..=255u8).collect::<Vec<_>>());
        let back: Raw = within("raw ack", client.emit_with_ack("raw", Raw(blob.clone())))
            .await
            .unwrap();
        assert_eq!(back.0, blob, "raw bytes are untouched with {codec}");
    }
}

/// `Binary` bytes arrive as bytes with every codec; under JSON they are `00` and the bytes.
pub async fn binary_payload_round_trips<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s| async move {
        echo_handlers(&s);
    })
    .await;
    let blob = Bytes::from((0..=255u8).collect::<Vec<_>>());
    let reversed: Vec<u8> = blob.iter().rev().copied().collect();
    for codec in PayloadCodec::ALL {
        let (client, _) = t.connect_with(Client::builder().codec(codec)).await;
        let back: Binary = within(
            "binary ack",
            client.emit_with_ack("reverse", Binary(blob.clone())),
        )
        .await
        .unwrap();
        assert_eq!(back.0, reversed, "reversed bytes with {codec}");
        let wire: Raw = within(
            "binary as sent",
            client.emit_with_ack("reverse", Binary(blob.clone())),
        )
        .await
        .unwrap();
        if codec == PayloadCodec::Json {
            assert_eq!(wire.0[0], 0x00, "a binary json payload starts with 00");
            assert_eq!(wire.0[1..], reversed[..]);
        }
    }
}

/// Server emits reach the client in order, and the client answers acks.
pub async fn server_emit_reaches_client<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |_| async {}).await;
    let client = within("connect", Client::builder().connect(&t.connector))
        .await
        .unwrap();
    let mut inbox = collect(&client, "news");
    let socket = t.next_socket().await;
    for i in 0..50 {
        socket.emit("news", format!("n{i}")).unwrap();
    }
    for i in 0..50 {
        assert_eq!(
            next(&mut inbox, "news").await,
            format!("n{i}"),
            "events arrive in order"
        );
    }
    // And acks the other way: the client answers the server.
    client.on(
        "question",
        |Data(q): Data<u32>, ack: AckSender| async move {
            ack.send(q * 2).unwrap();
        },
    );
    let answer: u32 = within("client ack", socket.emit_with_ack("question", 21u32))
        .await
        .unwrap();
    assert_eq!(answer, 42);
}

/// An event nobody handles gets an ack error, and the connection stays up.
pub async fn unknown_event_gets_ack_error<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |_| async {}).await;
    let (client, _) = t.connect().await;
    let err = within("ack", client.emit_with_ack::<()>("nobody-listens", ()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AckError::Remote(m) if m.contains("unknown event")),
        "{err:?}"
    );
    client.emit("nobody-listens", ()).unwrap();
    assert!(client.connected());
}

/// A handler that does not take or drops its `AckSender` answers with an error.
pub async fn unacknowledging_handler_gets_ack_error<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s: Socket| async move {
        s.on("fire", |Data(_): Data<u8>| async {});
        s.on("drop-ack", |_ack: AckSender| async {});
    })
    .await;
    let (client, _) = t.connect().await;
    let err = within("ack", client.emit_with_ack::<()>("fire", 1u8))
        .await
        .unwrap_err();
    assert!(matches!(err, AckError::Remote(_)), "{err:?}");
    let err = within("ack", client.emit_with_ack::<()>("drop-ack", ()))
        .await
        .unwrap_err();
    assert!(matches!(err, AckError::Remote(_)), "{err:?}");
}

/// A payload of the wrong type gets an ack error; the connection survives.
pub async fn invalid_payload_gets_ack_error_and_connection_survives<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s: Socket| async move {
        s.on("number", |Data(n): Data<u64>, ack: AckSender| async move {
            ack.send(n).unwrap();
        });
        // The ack extracted before the failing payload still reports the real reason.
        s.on(
            "ack-first",
            |ack: AckSender, Data(n): Data<u64>| async move {
                ack.send(n).unwrap();
            },
        );
    })
    .await;
    for codec in PayloadCodec::ALL {
        let (client, _) = t.connect_with(Client::builder().codec(codec)).await;
        for event in ["number", "ack-first"] {
            let garbage = Raw(Bytes::from_static(b"\xff\xff"));
            let err = within("ack", client.emit_with_ack::<u64>(event, garbage))
                .await
                .unwrap_err();
            assert!(
                matches!(&err, AckError::Remote(m) if m.contains("invalid payload")),
                "{event}: {err:?}"
            );
        }
        let n: u64 = within("ack", client.emit_with_ack("number", 7u64))
            .await
            .unwrap();
        assert_eq!(n, 7);
    }
}

/// A panicking handler does not take its connection down.
pub async fn handler_panic_is_contained<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s: Socket| async move {
        echo_handlers(&s);
        s.on("boom", |Data(_): Data<()>| async { panic!("handler bug") });
    })
    .await;
    let (client, socket) = t.connect().await;
    client.emit("boom", ()).unwrap();
    let reply: String = within(
        "echo after panic",
        client.emit_with_ack("echo", "still here"),
    )
    .await
    .unwrap();
    assert_eq!(reply, "still here");
    assert!(socket.connected());
}

/// An unanswered ack times out on both sides.
pub async fn ack_timeout<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s: Socket| async move {
        s.on("never", |ack: AckSender| async move {
            let _held = ack;
            std::future::pending::<()>().await;
        });
    })
    .await;
    let (client, socket) = t.connect().await;
    let err = within(
        "timeout",
        client
            .emit_with_ack::<()>("never", ())
            .timeout(Duration::from_millis(50)),
    )
    .await
    .unwrap_err();
    assert_eq!(err, AckError::Timeout(Duration::from_millis(50)));
    client.on("mute", |ack: AckSender| async move {
        let _held = ack;
        std::future::pending::<()>().await;
    });
    let err = within(
        "timeout",
        socket
            .emit_with_ack::<()>("mute", ())
            .timeout(Duration::from_millis(50)),
    )
    .await
    .unwrap_err();
    assert_eq!(err, AckError::Timeout(Duration::from_millis(50)));
}

/// Volatile emits arrive on an idle link.
pub async fn volatile_emits_arrive_when_idle<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s: Socket| async move {
        s.on("pos", |socket: Socket, Data(n): Data<u32>| async move {
            socket.volatile().emit("pos-echo", n).unwrap();
        });
    })
    .await;
    let (client, _) = t.connect().await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    client.on("pos-echo", move |Data(n): Data<u32>| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(n).await;
        }
    });
    // Volatile means unreliable: on an idle link nearly all arrive, so we ask until one does.
    let mut arrived = None;
    for attempt in 0..50u32 {
        client.volatile().emit("pos", attempt).unwrap();
        if let Ok(Some(n)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
            arrived = Some(n);
            break;
        }
    }
    assert!(
        arrived.is_some(),
        "no volatile event made the round trip in 50 tries"
    );
}

/// The fallback handler gets events without a handler of their own.
pub async fn catch_all_handler<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s: Socket| async move {
        echo_handlers(&s);
        s.on_fallback(
            |EventName(name): EventName, Data(raw): Data<Raw>, ack: AckSender| async move {
                ack.send((name, raw.0.len())).unwrap();
            },
        );
    })
    .await;
    let (client, _) = t.connect().await;
    let (name, len): (String, usize) = within("fallback", client.emit_with_ack("whatever", 5u8))
        .await
        .unwrap();
    assert_eq!((name.as_str(), len), ("whatever", 1));
    let echoed: String = within("echo", client.emit_with_ack("echo", "specific wins"))
        .await
        .unwrap();
    assert_eq!(echoed, "specific wins");
}

/// Volatile emits use datagrams where they fit, the reliable channel otherwise.
pub async fn volatile_uses_datagrams_when_they_fit<H: Harness>(harness: &H) {
    use quicket_core::transport::{FrameReader, Incoming};
    use quicket_proto::{Frame, codec};

    let mut t = TestServer::start(harness, harness.builder().await, |_| async {}).await;
    let mut raw = t.raw().await;
    raw.handshake().await;
    let socket = t.next_socket().await;
    let has_datagrams = raw.datagrams.is_some();
    assert_eq!(socket.max_datagram_size().is_some(), has_datagrams);
    let event_of = |bytes: &Bytes| match codec::decode(bytes) {
        Ok(Frame::Event(event)) => Some(event.name),
        _ => None,
    };

    // A small volatile event: a datagram where the transport has them, else a frame.
    let mut small = None;
    for _ in 0..50 {
        socket.volatile().emit("small", 1u8).unwrap();
        if let Ok(incoming) =
            tokio::time::timeout(Duration::from_millis(200), raw.reader.recv()).await
        {
            small = Some(incoming.expect("the connection stays open"));
            break;
        }
    }
    match small.expect("a small volatile event arrived") {
        Incoming::Datagram(bytes) => {
            assert!(has_datagrams);
            assert_eq!(event_of(&bytes).as_deref(), Some("small"));
        }
        Incoming::Frame(bytes) => {
            assert!(
                !has_datagrams,
                "a volatile event that fits must travel as a datagram"
            );
            assert_eq!(event_of(&bytes).as_deref(), Some("small"));
        }
        other => panic!("a client that offered no channels got {other:?}"),
    }

    // One too large for a datagram either takes the reliable channel (uncongested here), or,
    // on a transport that refuses oversized volatile frames, fails for the emitter.
    let size = socket.max_datagram_size().unwrap_or(1200) + 100;
    match socket
        .volatile()
        .emit("large", Raw(Bytes::from(vec![0u8; size])))
    {
        Ok(()) => loop {
            match within("the large volatile event", raw.reader.recv())
                .await
                .expect("open")
            {
                Incoming::Frame(bytes) if event_of(&bytes).as_deref() == Some("large") => break,
                Incoming::Datagram(bytes) => assert_ne!(event_of(&bytes).as_deref(), Some("large")),
                Incoming::Frame(_) => {}
                other => panic!("a client that offered no channels got {other:?}"),
            }
        },
        Err(quicket_core::EmitError::DatagramTooLarge { max, .. }) => {
            assert_eq!(Some(max), socket.max_datagram_size());
        }
        Err(other) => panic!("unexpected emit error {other}"),
    }
}

/// Handlers start in the order their events arrived.
pub async fn events_are_handled_in_arrival_order<H: Harness>(harness: &H) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = std::sync::Arc::clone(&seen);
    let mut t = TestServer::start(harness, harness.builder().await, move |s: Socket| {
        let record = std::sync::Arc::clone(&record);
        s.on("n", move |Data(n): Data<u32>| {
            record.lock().unwrap().push(n);
            async {}
        });
        s.on(
            "done",
            |ack: AckSender| async move { ack.send(()).unwrap() },
        );
        async {}
    })
    .await;
    let (client, _) = t.connect().await;
    for n in 0..500u32 {
        client.emit("n", n).unwrap();
    }
    within("done", client.emit_with_ack::<()>("done", ()))
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), (0..500).collect::<Vec<_>>());
}
