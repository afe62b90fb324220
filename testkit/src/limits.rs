//! Limits, malformed input, floods and slow readers.

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use bytes::Bytes;
use quicket_proto::{Event, Frame};
use tokio::sync::Semaphore;

use super::{Harness, TestServer, collect, next, within};
use quicket_core::{
    AckError, AckSender, Client, ClientConfig, ConnectionLimits, Data, DisconnectReason, EmitError,
    JoinError, Raw, ServerConfig, Socket,
};

fn join_handler(socket: &Socket) {
    socket.on(
        "join",
        |socket: Socket, Data(room): Data<String>, ack: AckSender| async move {
            ack.send(socket.join(room).map_err(|e| e.to_string()))
                .unwrap();
        },
    );
}

/// A malformed frame closes only its own connection, with `ProtocolError`.
pub async fn malformed_frame_closes_only_that_connection<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s| async move {
        join_handler(&s);
    })
    .await;
    let (good, _) = t.connect().await;
    let _: Result<(), String> = within("join", good.emit_with_ack("join", "room"))
        .await
        .unwrap();
    let mut inbox = collect(&good, "news");
    for garbage in [
        &b"\xee\x01\x02"[..],
        b"\x10\x05ab",
        b"\x10\x01a\x02\x00\x00",
        b"",
    ] {
        let mut raw = t.raw().await;
        raw.handshake().await;
        raw.send_bytes(Bytes::copy_from_slice(garbage)).await;
        assert_eq!(
            raw.disconnect_reason().await,
            Some(DisconnectReason::ProtocolError),
            "{garbage:02x?}"
        );
        assert_eq!(raw.recv().await, None);
    }
    assert_eq!(t.server.to("room").emit("news", "unaffected").unwrap(), 1);
    assert_eq!(next(&mut inbox, "news").await, "unaffected");
}

/// A frame above the maximum closes with `FrameTooLarge`.
pub async fn oversized_frame_closes_with_reason<H: Harness>(harness: &H) {
    let config = ServerConfig::default().limits(ConnectionLimits::default().max_frame_size(4096));
    let t = TestServer::start(harness, harness.builder().await.config(config), |_| async {
    })
    .await;
    let mut raw = t.raw().await;
    let welcome = raw.handshake().await;
    assert_eq!(welcome.max_frame_size, 4096);
    let data = Bytes::from(vec![7u8; 10_000]);
    raw.send(&Frame::Event(Event {
        name: "big".into(),
        ack: None,
        data,
    }))
    .await;
    assert_eq!(
        raw.disconnect_reason().await,
        Some(DisconnectReason::FrameTooLarge)
    );
}

/// An emit larger than the peer accepts is a typed error, not a close.
pub async fn emit_larger_than_peer_limit_is_typed_error<H: Harness>(harness: &H) {
    let config = ServerConfig::default().limits(ConnectionLimits::default().max_frame_size(4096));
    let mut t = TestServer::start(harness, harness.builder().await.config(config), |_| async {
    })
    .await;
    let client_config =
        ClientConfig::default().limits(ConnectionLimits::default().max_frame_size(1024));
    let (client, socket) = t
        .connect_with(Client::builder().config(client_config))
        .await;
    let big = Raw(Bytes::from(vec![1u8; 2000]));
    assert!(matches!(
        socket.emit("big", big.clone()),
        Err(EmitError::FrameTooLarge { max: 1024, .. })
    ));
    assert!(matches!(
        socket.volatile().emit("big", big.clone()),
        Err(EmitError::FrameTooLarge { .. })
    ));
    let bigger = Raw(Bytes::from(vec![1u8; 5000]));
    assert!(matches!(
        client.emit("big", bigger),
        Err(EmitError::FrameTooLarge { max: 4096, .. })
    ));
    assert!(client.connected() && socket.connected());
}

/// Event names above the limit are refused on both sides.
pub async fn event_name_limit<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |_| async {}).await;
    let (client, socket) = t.connect().await;
    let long = "e".repeat(300);
    assert!(matches!(
        client.emit(&long, ()),
        Err(EmitError::EventNameTooLong { len: 300, max: 256 })
    ));
    assert!(matches!(
        socket.emit(&long, ()),
        Err(EmitError::EventNameTooLong { .. })
    ));
    assert!(matches!(
        t.server.emit(&long, ()),
        Err(EmitError::EventNameTooLong { .. })
    ));
    let mut raw = t.raw().await;
    raw.handshake().await;
    raw.send(&Frame::Event(Event {
        name: long,
        ack: Some(9),
        data: Bytes::new(),
    }))
    .await;
    let reply = raw.recv_until(|f| matches!(f, Frame::AckError(_))).await;
    assert!(
        matches!(reply, Some(Frame::AckError(e)) if e.id == 9 && e.message.contains("exceeds"))
    );
}

/// A socket cannot join more rooms than allowed.
pub async fn max_rooms_per_socket<H: Harness>(harness: &H) {
    let config = ServerConfig::default().max_rooms_per_socket(2);
    let mut t = TestServer::start(harness, harness.builder().await.config(config), |_| async {
    })
    .await;
    let (_client, socket) = t.connect().await;
    socket.join("a").unwrap();
    socket.join("b").unwrap();
    socket.join("a").unwrap();
    assert_eq!(socket.join("c"), Err(JoinError::TooManyRooms { max: 2 }));
    socket.leave("a");
    socket.join("c").unwrap();
}

/// Polls a future once, keeping it alive.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut *future).poll(cx))).await
}

/// A connection cannot await more acks than allowed, and slots come back.
pub async fn max_pending_acks<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |s: Socket| async move {
        s.on("hold", |ack: AckSender| async move {
            let _held = ack;
            std::future::pending::<()>().await;
        });
    })
    .await;
    let config = ClientConfig::default().limits(ConnectionLimits::default().max_pending_acks(2));
    let (client, _) = t.connect_with(Client::builder().config(config)).await;
    let mut first = Box::pin(client.emit_with_ack::<()>("hold", ()).into_future());
    let mut second = Box::pin(client.emit_with_ack::<()>("hold", ()).into_future());
    assert!(poll_once(&mut first).await.is_pending());
    assert!(poll_once(&mut second).await.is_pending());
    let third = within("third ack", client.emit_with_ack::<()>("hold", ())).await;
    assert_eq!(third, Err(AckError::TooManyPending));
    drop((first, second));
    // Giving up on an ack frees its slot.
    let again = within(
        "slot freed",
        client
            .emit_with_ack::<()>("hold", ())
            .timeout(std::time::Duration::from_millis(20)),
    )
    .await;
    assert!(matches!(again, Err(AckError::Timeout(_))));
}

/// A stalled reader is cut as a slow consumer while its room keeps flowing.
pub async fn slow_consumer_is_cut_without_stalling_the_room<H: Harness>(harness: &H) {
    let config = ServerConfig::default().limits(ConnectionLimits::default().max_queued_frames(32));
    let (mut t, mut reasons) = super::reporting_disconnects(
        harness,
        harness.builder().await.config(config),
        join_handler,
    )
    .await;
    let (reader, _) = t.connect().await;
    let _: Result<(), String> = within("join", reader.emit_with_ack("join", "feed"))
        .await
        .unwrap();
    let mut inbox = collect(&reader, "tick");
    let mut stalled = t.raw().await;
    stalled.handshake().await;
    stalled.join("feed").await;
    // From here on the raw peer reads nothing. Broadcast in batches smaller than the queue,
    // each read by the healthy client before the next, until the stalled one is cut.
    let payload = "x".repeat(4096);
    let mut sent = 0usize;
    loop {
        let mut reached = 0;
        for _ in 0..16 {
            reached = t
                .server
                .to("feed")
                .emit("tick", format!("{sent}:{payload}"))
                .unwrap();
            sent += 1;
        }
        for expected in sent - 16..sent {
            let tick = next(&mut inbox, "a tick").await;
            assert!(
                tick.starts_with(&format!("{expected}:")),
                "ticks arrive complete and in order"
            );
        }
        if reached == 1 {
            break;
        }
        assert!(sent < 20_000, "the stalled reader was never cut");
    }
    let cut = next(&mut reasons, "the stalled reader's disconnect").await;
    assert_eq!(cut, DisconnectReason::SlowConsumer);
    assert!(
        reader.connected(),
        "the healthy reader keeps its connection"
    );
    assert_eq!(t.server.to("feed").sockets().await.len(), 1);
    t.server
        .to("feed")
        .emit("tick", format!("{sent}:after"))
        .unwrap();
    assert_eq!(
        next(&mut inbox, "tick after the cut").await,
        format!("{sent}:after")
    );
}

/// Volatile floods are dropped, never queued without bound.
pub async fn volatile_frames_are_dropped_not_queued<H: Harness>(harness: &H) {
    let config = ServerConfig::default().limits(ConnectionLimits::default().max_queued_frames(32));
    let mut t = TestServer::start(harness, harness.builder().await.config(config), |_| async {
    })
    .await;
    let mut stalled = t.raw().await;
    stalled.handshake().await;
    let socket = t.next_socket().await;
    // Too big for a datagram, so it takes the reliable channel, where congestion drops it.
    let payload = Raw(Bytes::from(vec![3u8; 1500]));
    for _ in 0..5_000 {
        let sent = socket.volatile().emit("state", payload.clone());
        assert!(
            matches!(sent, Ok(()) | Err(EmitError::DatagramTooLarge { .. })),
            "{sent:?}"
        );
        t.server.volatile().emit("state", payload.clone()).unwrap();
    }
    assert!(socket.connected(), "volatile floods never cut a socket");
    socket
        .emit("reliable", ())
        .expect("volatile frames leave room for reliable ones");
    assert!(socket.connected());
}

/// No more handlers run at once than allowed.
pub async fn handler_concurrency_is_bounded<H: Harness>(harness: &H) {
    struct Counters {
        in_flight: AtomicUsize,
        max: AtomicUsize,
        done: AtomicUsize,
        gate: Semaphore,
    }
    let counters = Arc::new(Counters {
        in_flight: AtomicUsize::new(0),
        max: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        gate: Semaphore::new(0),
    });
    let config =
        ServerConfig::default().limits(ConnectionLimits::default().max_concurrent_handlers(4));
    let shared = Arc::clone(&counters);
    let mut t = TestServer::start(
        harness,
        harness.builder().await.config(config),
        move |s: Socket| {
            let shared = Arc::clone(&shared);
            s.on("work", move |Data(_): Data<u32>| {
                let c = Arc::clone(&shared);
                async move {
                    let now = c.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    c.max.fetch_max(now, Ordering::SeqCst);
                    c.gate.acquire().await.unwrap().forget();
                    c.in_flight.fetch_sub(1, Ordering::SeqCst);
                    c.done.fetch_add(1, Ordering::SeqCst);
                }
            });
            async {}
        },
    )
    .await;
    let (client, _) = t.connect().await;
    for i in 0..40u32 {
        client.emit("work", i).unwrap();
    }
    within("four handlers running", async {
        while counters.in_flight.load(Ordering::SeqCst) < 4 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    counters.gate.add_permits(40);
    within("all handled", async {
        while counters.done.load(Ordering::SeqCst) < 40 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(
        counters.max.load(Ordering::SeqCst),
        4,
        "never more than the limit at once"
    );
}

/// Past `max_connections`, handshakes get `ServerFull`.
pub async fn server_full_is_refused<H: Harness>(harness: &H) {
    let config = ServerConfig::default().max_connections(1);
    let mut t = TestServer::start(harness, harness.builder().await.config(config), |_| async {
    })
    .await;
    let (first, _) = t.connect().await;
    match within("refusal", Client::builder().connect(&t.connector)).await {
        Err(quicket_core::ConnectError::Rejected { reason, .. }) => {
            assert_eq!(reason, quicket_proto::RejectReason::ServerFull);
        }
        other => panic!("expected ServerFull, got {other:?}"),
    }
    first.disconnect().await;
    within("the slot to free up", async {
        while t.server.connection_count() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    t.connect().await;
}
