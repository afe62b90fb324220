//! Connection state recovery over WebSocket when the TCP connection breaks without a close
//! frame: the client goes through a TCP relay, and a cut ends both of the relay's sockets with
//! an RST (a NAT that forgets the connection, a crashed middlebox) or with a FIN (the kernel
//! closing a crashed client's socket, a killed tab).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::{SinkExt, StreamExt};
use quicket_core::transport::Listener;
use quicket_proto::{Frame, Hello, Resume, Welcome, codec};
use quicket_testkit::tcp_relay::{self, TcpRelay};
use quicket_testkit::within;
use quicket_testkit::{DropPlan, RawPeer, sequence_survives_drops};
use quicket_ws::{WsConfig, WsConnector};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Twenty cuts of the given kind while numbered events flow both ways; each resumes the session
/// with nothing lost or doubled.
async fn twenty_cuts(kind: &str, cut: fn(&TcpRelay)) {
    let listener = quicket_ws::bind("127.0.0.1:0".parse().unwrap(), WsConfig::default())
        .await
        .unwrap();
    let relay = Arc::new(tcp_relay::start(listener.local_addr().unwrap()).await);
    let connector = WsConnector::new(format!("ws://{}/quicket", relay.addr));
    let cutter = Arc::clone(&relay);
    let report = sequence_survives_drops(
        quicket_core::Server::builder(),
        listener,
        connector,
        DropPlan::clean(20),
        move |_socket| cut(&cutter),
    )
    .await;
    let (median, max) = report.median_and_max();
    println!(
        "tcp {kind}: {} reconnects, {} events down and {} up exact; recovery median {median:?}, max {max:?}",
        report.reconnects, report.down, report.up
    );
    assert_eq!(report.reconnects, 20);
    assert_eq!(
        relay.broken.load(Ordering::Relaxed),
        20,
        "each cut broke a live connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_reset_twenty_times_loses_and_duplicates_nothing() {
    twenty_cuts("reset", TcpRelay::cut).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_fin_without_a_close_frame_twenty_times_loses_and_duplicates_nothing() {
    twenty_cuts("fin", TcpRelay::end).await;
}

/// A raw WebSocket's `Hello`, resuming `resume` when given, and the server's `Welcome`.
/// Waits until the server has let go of every connection.
async fn all_released(server: &quicket_core::Server) {
    within("the connection to be released", async {
        while server.connection_count() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

/// Sends the socket's id on `ended` when its session ends.
fn report_end(
    socket: &quicket_core::Socket,
    ended: &tokio::sync::mpsc::UnboundedSender<quicket_proto::SocketId>,
) {
    let ended = ended.clone();
    socket.on_disconnect(move |socket, _reason| {
        let _ = ended.send(socket.id());
        async {}
    });
}

/// A resume of the session `welcome` opened, from its start.
fn resume_of(welcome: &Welcome) -> Option<Resume> {
    Some(Resume {
        token: welcome.session.clone(),
        offset: 0,
    })
}

async fn raw_session(
    addr: std::net::SocketAddr,
    resume: Option<Resume>,
) -> (
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Welcome,
) {
    let url = format!("ws://{addr}/quicket");
    let (mut socket, _) = within("the upgrade", tokio_tungstenite::connect_async(url))
        .await
        .unwrap();
    let Frame::Hello(hello) = RawPeer::<quicket_ws::WsClientConnection>::hello() else {
        unreachable!("hello() is a Hello")
    };
    let hello = Frame::Hello(Hello { resume, ..hello });
    socket
        .send(Message::binary(codec::encode(&hello)))
        .await
        .unwrap();
    match within("the Welcome", socket.next()).await {
        Some(Ok(Message::Binary(frame))) => match codec::decode(&frame) {
            Ok(Frame::Welcome(welcome)) => (socket, welcome),
            other => panic!("expected the Welcome, got {other:?}"),
        },
        other => panic!("expected the Welcome, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_with_1001_and_no_disconnect_frame_keeps_the_session() {
    let listener = quicket_ws::bind("127.0.0.1:0".parse().unwrap(), WsConfig::default())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let server = quicket_core::Server::builder().build();
    server.listen(listener);
    let (mut socket, first) = raw_session(addr, None).await;
    // What a browser sends for an open WebSocket when its page unloads.
    socket
        .close(Some(CloseFrame {
            code: CloseCode::Away,
            reason: "".into(),
        }))
        .await
        .unwrap();
    // The session's fate is decided by the time its connection is released.
    within("the connection to be released", async {
        while server.connection_count() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let resume = Resume {
        token: first.session.clone(),
        offset: 0,
    };
    let (_socket, again) = raw_session(addr, Some(resume)).await;
    assert!(again.recovered, "the session outlived a 1001 close");
    assert_eq!(again.sid, first.sid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_and_drop_in_a_loop_displaces_only_the_oldest_sessions_of_that_source() {
    let listener = quicket_ws::bind("127.0.0.1:0".parse().unwrap(), WsConfig::default())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let recovery = quicket_core::RecoveryConfig::default().max_detached_per_source(3);
    let config = quicket_core::ServerConfig::default().recovery(Some(recovery));
    let (ended_tx, mut ended) = tokio::sync::mpsc::unbounded_channel();
    let server = quicket_core::Server::builder()
        .config(config)
        .on_connect(move |socket: quicket_core::Socket| {
            report_end(&socket, &ended_tx);
            async {}
        })
        .build();
    server.listen(listener);
    let mut welcomes = Vec::new();
    for _ in 0..5 {
        let (socket, welcome) = raw_session(addr, None).await;
        // The TCP connection ends with no close frame: a crash, which keeps the session.
        drop(socket);
        welcomes.push(welcome);
        all_released(&server).await;
    }
    let mut displaced = Vec::new();
    for _ in 0..2 {
        displaced.push(
            within("a displaced session's end", ended.recv())
                .await
                .unwrap(),
        );
    }
    let oldest: Vec<_> = welcomes[..2].iter().map(|w| w.sid).collect();
    assert_eq!(displaced, oldest, "the two oldest end, in order");
    assert_eq!(server.detached_count(), 3);
    let (_a, gone) = raw_session(addr, resume_of(&welcomes[0])).await;
    assert!(!gone.recovered, "a displaced session cannot be resumed");
    let (_b, kept) = raw_session(addr, resume_of(&welcomes[4])).await;
    assert!(kept.recovered);
    assert_eq!(kept.sid, welcomes[4].sid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_sessions_hold_no_more_than_their_byte_budget() {
    const BLOB: usize = 1_000;
    let listener = quicket_ws::bind("127.0.0.1:0".parse().unwrap(), WsConfig::default())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    // Room for three sessions holding one 1,000-byte event each, not four.
    let recovery = quicket_core::RecoveryConfig::default().max_detached_bytes(3 * BLOB + 500);
    let config = quicket_core::ServerConfig::default().recovery(Some(recovery));
    let (evicted_tx, mut evicted) = tokio::sync::mpsc::unbounded_channel();
    let (ended_tx, mut ended) = tokio::sync::mpsc::unbounded_channel();
    let server = quicket_core::Server::builder()
        .config(config)
        .on_session_evicted(move |socket, eviction| {
            let _ = evicted_tx.send((socket.id(), eviction));
        })
        .on_connect(move |socket: quicket_core::Socket| {
            report_end(&socket, &ended_tx);
            socket.emit("blob", vec![7u8; BLOB]).unwrap();
            async {}
        })
        .build();
    server.listen(listener);
    let mut welcomes = Vec::new();
    for _ in 0..5 {
        let (mut socket, welcome) = raw_session(addr, None).await;
        match within("the blob", socket.next()).await {
            Some(Ok(Message::Binary(frame))) => {
                assert!(matches!(codec::decode(&frame), Ok(Frame::Event(_))));
            }
            other => panic!("expected the blob event, got {other:?}"),
        }
        drop(socket);
        welcomes.push(welcome);
        all_released(&server).await;
    }
    for refused in &welcomes[3..] {
        let (sid, eviction) = within("an eviction", evicted.recv()).await.unwrap();
        assert_eq!(
            (sid, eviction),
            (refused.sid, quicket_core::Eviction::MemoryBudget)
        );
        assert_eq!(
            within("its disconnect handler", ended.recv()).await,
            Some(sid)
        );
    }
    assert_eq!(server.detached_count(), 3, "the three that fit still wait");
    let held = server.detached_bytes();
    assert!(
        (3 * BLOB..=3 * BLOB + 500).contains(&held),
        "three logged events, counted once each: {held}"
    );
    let (_a, gone) = raw_session(addr, resume_of(&welcomes[4])).await;
    assert!(
        !gone.recovered,
        "a session that did not fit cannot be resumed"
    );
    let (_b, kept) = raw_session(addr, resume_of(&welcomes[0])).await;
    assert!(kept.recovered);
    assert_eq!(kept.sid, welcomes[0].sid);
    assert!(
        server.detached_bytes() < held,
        "a resumed session's events no longer count"
    );
    assert!(evicted.try_recv().is_err(), "no other session was evicted");
}
