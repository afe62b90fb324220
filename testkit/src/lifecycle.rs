//! Handshake, auth, heartbeats and disconnects.

use std::time::Duration;

use bytes::Bytes;
use quicket_proto::{Event, Frame, Hello, RejectReason, Welcome, codec};
use tokio::sync::mpsc;

use super::{Harness, RawPeer, TestServer, next, within};
use quicket_core::transport::{Connection, FrameReader, FrameWriter, Listener};
use quicket_core::{
    AckSender, Client, ConnectError, Data, DisconnectReason, FromPayload, PayloadCodec, Rejection,
    ServerConfig, Socket,
};

#[derive(Clone, Debug, PartialEq)]
struct UserId(String);

/// An auth rejection reaches the client as a typed error with its data.
pub async fn auth_rejection_reaches_client<H: Harness>(harness: &H) {
    let builder = harness.builder().await.auth(|handshake| async move {
        let token: String = handshake.auth().map_err(|_| Rejection::new("no token"))?;
        if token != "good" {
            return Err(Rejection::new("bad token").with_data(5u32));
        }
        handshake.extensions().insert(UserId("ada".into()));
        Ok(())
    });
    let mut t = TestServer::start(harness, builder, |s: Socket| async move {
        s.on("whoami", |socket: Socket, ack: AckSender| async move {
            ack.send(socket.extensions().get::<UserId>().map(|u| u.0))
                .unwrap();
        });
    })
    .await;
    for codec in PayloadCodec::ALL {
        let refused = within(
            "refusal",
            Client::builder()
                .codec(codec)
                .auth("bad")
                .connect(&t.connector),
        )
        .await;
        match refused {
            Err(ConnectError::Rejected {
                reason,
                message,
                data,
            }) => {
                assert_eq!(reason, RejectReason::Unauthorized);
                assert_eq!(message, "bad token");
                assert_eq!(u32::decode(data, codec).unwrap(), 5);
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
    let (client, _) = t
        .connect_with(Client::builder().auth("good").codec(PayloadCodec::Json))
        .await;
    let who: Option<String> = within("whoami", client.emit_with_ack("whoami", ()))
        .await
        .unwrap();
    assert_eq!(who.as_deref(), Some("ada"));
    // The refused handshakes left no sockets behind.
    assert_eq!(t.server.sockets().await.len(), 1);
}

/// A connection that never says Hello gets `Disconnect{HandshakeTimeout}` after the handshake
/// timeout, and is closed.
pub async fn handshake_timeout_closes<H: Harness>(harness: &H) {
    let config = ServerConfig::default().handshake_timeout(Duration::from_millis(100));
    let t = TestServer::start(harness, harness.builder().await.config(config), |_| async {
    })
    .await;
    let mut raw = t.raw().await;
    match raw.recv().await {
        Some(Frame::Disconnect(bye)) => {
            assert_eq!(bye.reason, DisconnectReason::HandshakeTimeout);
        }
        other => panic!("expected Disconnect{{HandshakeTimeout}}, got {other:?}"),
    }
    assert_eq!(
        raw.recv().await,
        None,
        "the server closes a connection that never says Hello"
    );
}

fn expect_reject(frame: Option<Frame>, reason: RejectReason) {
    match frame {
        Some(Frame::Reject(reject)) if reject.reason == reason => {}
        other => panic!("expected a {reason} rejection, got {other:?}"),
    }
}

/// A malformed or mismatched Hello is refused with its reason.
pub async fn bad_handshake_is_rejected<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |_| async {}).await;
    let mut raw = t.raw().await;
    raw.send(&Frame::Event(Event {
        name: "early".into(),
        ack: None,
        data: Bytes::new(),
    }))
    .await;
    expect_reject(raw.recv().await, RejectReason::BadHandshake);
    assert_eq!(raw.recv().await, None);

    let mut raw = t.raw().await;
    let Frame::Hello(hello) =
        RawPeer::<<H::Connector as quicket_core::transport::Connector>::Connection>::hello()
    else {
        unreachable!()
    };
    raw.send(&Frame::Hello(Hello {
        version: 99,
        ..hello.clone()
    }))
    .await;
    expect_reject(raw.recv().await, RejectReason::UnsupportedVersion);

    let mut raw = t.raw().await;
    raw.send(&Frame::Hello(Hello {
        max_frame_size: 100,
        ..hello.clone()
    }))
    .await;
    expect_reject(raw.recv().await, RejectReason::BadHandshake);

    // The parts a socket keeps for its life have caps (ConnectionLimits: 64 bytes, 8 KiB).
    let limits = quicket_core::ConnectionLimits::default();
    let long = "n".repeat(limits.max_client_info_len + 1);
    for oversized in [
        Hello {
            client_name: long.clone(),
            ..hello.clone()
        },
        Hello {
            client_version: long,
            ..hello.clone()
        },
        Hello {
            auth: Bytes::from(vec![0; limits.max_auth_size + 1]),
            ..hello.clone()
        },
    ] {
        let mut raw = t.raw().await;
        raw.send(&Frame::Hello(oversized)).await;
        expect_reject(raw.recv().await, RejectReason::BadHandshake);
    }

    let mut raw = t.raw().await;
    raw.send_bytes(Bytes::from_static(b"\x01\x01\x00\x07garbage"))
        .await;
    expect_reject(raw.recv().await, RejectReason::BadHandshake);

    // A later version's Hello that this version cannot decode: tag 01, then version 2.
    let mut raw = t.raw().await;
    raw.send_bytes(Bytes::from_static(b"\x01\x02\xff\xff\xff"))
        .await;
    expect_reject(raw.recv().await, RejectReason::UnsupportedVersion);

    // The server still accepts well-behaved clients afterwards, and a Hello at the caps.
    t.connect().await;
    let mut raw = t.raw().await;
    raw.send(&Frame::Hello(Hello {
        client_name: "n".repeat(limits.max_client_info_len),
        auth: Bytes::from(vec![0; limits.max_auth_size]),
        ..hello
    }))
    .await;
    assert!(
        matches!(raw.recv().await, Some(Frame::Welcome(_))),
        "a Hello at the caps is welcome"
    );
}

/// Disconnects carry their reason to both sides, after queued frames.
pub async fn disconnect_reasons_reach_both_sides<H: Harness>(harness: &H) {
    let (mut t, mut reasons) =
        super::reporting_disconnects(harness, harness.builder().await, |_| {}).await;
    let (client, _) = t.connect().await;
    client.disconnect().await;
    assert_eq!(
        next(&mut reasons, "server-side reason").await,
        DisconnectReason::ClientDisconnect
    );
    assert!(!client.connected());
    assert!(client.emit("late", ()).is_err());

    let (client, socket) = t.connect().await;
    let mut inbox = super::collect(&client, "bye-soon");
    socket
        .emit("bye-soon", "queued before the disconnect")
        .unwrap();
    socket.disconnect();
    assert_eq!(
        within("client closed", client.closed()).await,
        DisconnectReason::ServerDisconnect
    );
    assert_eq!(
        next(&mut reasons, "server-side reason").await,
        DisconnectReason::ServerDisconnect
    );
    assert!(!socket.connected());
    assert!(socket.emit("late", ()).is_err());
    // Frames queued before a graceful disconnect are still delivered.
    assert_eq!(
        next(&mut inbox, "the queued event").await,
        "queued before the disconnect"
    );
}

/// A silent client is dropped by the heartbeat, and, on a server that keeps no sessions for
/// recovery, its rooms and presence are cleaned at once.
pub async fn heartbeat_drops_silent_client<H: Harness>(harness: &H) {
    let config = ServerConfig::default()
        .ping_interval(Duration::from_millis(50))
        .ping_timeout(Duration::from_millis(50))
        .recovery(None);
    let (mut t, mut reasons) =
        super::reporting_disconnects(harness, harness.builder().await.config(config), |s| {
            s.on(
                "join",
                |socket: Socket, Data(room): Data<String>, ack: AckSender| async move {
                    socket.join(room).unwrap();
                    socket.presence("r").track("silent", ()).unwrap();
                    ack.send(()).unwrap();
                },
            );
        })
        .await;
    let mut raw = t.raw().await;
    let welcome = raw.handshake().await;
    assert_eq!(welcome.ping_interval_ms, 50);
    raw.join("r").await;
    let socket = t.next_socket().await;
    assert_eq!(t.server.to("r").sockets().await.len(), 1);
    // Now the raw peer answers nothing: no pong, no frame at all.
    assert_eq!(
        next(&mut reasons, "ping timeout").await,
        DisconnectReason::PingTimeout
    );
    assert!(!socket.connected());
    assert!(
        t.server.to("r").sockets().await.is_empty(),
        "rooms are cleaned"
    );
    within("the socket to leave the server", socket.closed()).await;
    assert!(
        t.server.presence("r").await.is_empty(),
        "presence is cleaned"
    );
    assert_eq!(
        raw.disconnect_reason().await,
        Some(DisconnectReason::PingTimeout)
    );
}

/// A client gives up on a silent server.
pub async fn client_drops_silent_server<H: Harness>(harness: &H) {
    let (mut listener, connector) = harness.pair().await;
    let server = tokio::spawn(async move {
        let connection = listener.accept().await.expect("accepts");
        let (mut reader, mut writer, _) = connection.split(1 << 20);
        let hello = reader.recv().await.expect("hello");
        assert!(matches!(hello, quicket_core::transport::Incoming::Frame(_)));
        let welcome = Frame::Welcome(Welcome {
            sid: quicket_proto::SocketId::from_bytes([7; 16]),
            ping_interval_ms: 50,
            ping_timeout_ms: 50,
            max_frame_size: 1 << 20,
            session: bytes::Bytes::new(),
            recovered: false,
            offset: 0,
            channels: None,
        });
        writer.send(codec::encode(&welcome)).await.expect("welcome");
        writer.flush().await.expect("flush");
        // Then silence, while keeping the connection open.
        let _keep = (reader, writer);
        std::future::pending::<()>().await;
    });
    let client = within("connect", super::once_only().connect(&connector))
        .await
        .unwrap();
    assert_eq!(client.id(), quicket_proto::SocketId::from_bytes([7; 16]));
    assert_eq!(
        within("client gives up", client.closed()).await,
        DisconnectReason::PingTimeout
    );
    server.abort();
}

/// The heartbeat measures the round trip.
pub async fn rtt_is_measured<H: Harness>(harness: &H) {
    let config = ServerConfig::default().ping_interval(Duration::from_millis(20));
    let mut t = TestServer::start(harness, harness.builder().await.config(config), |_| async {
    })
    .await;
    let (_client, socket) = t.connect().await;
    within("an rtt sample", async {
        while socket.rtt().is_none() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(socket.rtt().unwrap() < super::DEADLINE);
}

/// A client knows its round trip right after connecting, long before the server's first
/// ping (25 s by default): it pings once itself.
pub async fn client_rtt_is_known_right_after_connecting<H: Harness>(harness: &H) {
    let mut t = TestServer::start(harness, harness.builder().await, |_| async {}).await;
    let (client, _socket) = t.connect().await;
    within("the client's first rtt sample", async {
        while client.rtt().is_none() {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

/// Shutdown disconnects every client with `ServerShutdown`.
pub async fn shutdown_disconnects_everyone<H: Harness>(harness: &H) {
    // "late" stays in its auth check until shutdown has begun.
    let (auth_started, mut started) = mpsc::channel(1);
    let builder = harness.builder().await.auth(move |handshake| {
        let auth_started = auth_started.clone();
        async move {
            if handshake.auth::<String>().is_ok_and(|name| name == "late") {
                let _ = auth_started.send(()).await;
                std::future::pending::<()>().await;
            }
            Ok(())
        }
    });
    let mut t = TestServer::start(harness, builder, |_| async {}).await;
    let (a, sa) = t.connect_with(super::once_only()).await;
    let (b, _) = t.connect_with(super::once_only()).await;
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let reconnecting = Client::builder().on_reconnect(move |event| {
        let _ = events_tx.send(event.clone());
    });
    let (_c, _) = t.connect_with(reconnecting).await;
    let mut inbox = super::collect(&a, "last-words");
    sa.emit("last-words", "queued before shutdown").unwrap();
    let connector = &t.connector;
    let late = Client::builder().auth("late").connect(connector);
    let shutdown = async {
        next(&mut started, "the late handshake").await;
        t.server.shutdown(std::time::Duration::from_secs(5)).await;
    };
    let (late, ()) = within("shutdown", async { tokio::join!(late, shutdown) }).await;
    match late {
        Err(ConnectError::Rejected { reason, .. }) => {
            assert_eq!(reason, RejectReason::ShuttingDown);
        }
        other => panic!("a handshake under way is refused, got {other:?}"),
    }
    assert_eq!(
        t.server.connection_count(),
        0,
        "shutdown returns once every connection ended"
    );
    assert_eq!(
        next(&mut inbox, "the queued event").await,
        "queued before shutdown"
    );
    assert_eq!(
        within("a closed", a.closed()).await,
        DisconnectReason::ServerShutdown
    );
    assert_eq!(
        within("b closed", b.closed()).await,
        DisconnectReason::ServerShutdown
    );
    // A client that reconnects does so at once: the server is going away, not failing.
    let first = within("the reconnect", events.recv()).await.unwrap();
    assert_eq!(
        first,
        quicket_core::ReconnectEvent::Reconnecting {
            attempt: 1,
            delay: Duration::ZERO,
            reason: DisconnectReason::ServerShutdown
        }
    );
}

/// Dropping the application's last client handle disconnects it gracefully.
pub async fn dropping_the_last_client_handle_disconnects<H: Harness>(harness: &H) {
    let (mut t, mut reasons) =
        super::reporting_disconnects(harness, harness.builder().await, |_| {}).await;
    let (client, _) = t.connect().await;
    // Handlers reach the client through the extractor, which holds no handle between events.
    client.on("question", |client: Client, ack: AckSender| async move {
        ack.send(client.id().to_string()).unwrap();
    });
    let (_, socket) = (client.clone(), t.server.sockets().await.remove(0));
    let answer: String = within("ack", socket.emit_with_ack("question", ()))
        .await
        .unwrap();
    assert_eq!(answer, client.id().to_string());
    drop(client);
    assert_eq!(
        next(&mut reasons, "the server-side disconnect").await,
        DisconnectReason::ClientDisconnect
    );
}
