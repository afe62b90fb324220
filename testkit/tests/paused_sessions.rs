//! A session's ends through the real server on tokio's paused clock: a resume that takes over
//! a half-open connection, and a shutdown that writes out what was queued, each at once with
//! no timer run out; and a dropped session that nobody resumes, whose presence and then whole
//! self go at their deadlines to the instant. All in the order PROTOCOL.md 10.6 and
//! `Server::shutdown` give.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::time::Duration;

use quicket_core::transport::Connector;
use quicket_core::transport::memory::{self, MemoryConfig, MemoryConnection, MemoryConnector};
use quicket_core::{DisconnectReason, PayloadCodec, RecoveryConfig, Server, ServerConfig, Socket};
use quicket_proto::{Frame, Resume};
use quicket_testkit::RawPeer;
use tokio::sync::mpsc;
use tokio::time::Instant;

fn serve(server: &Server) -> MemoryConnector {
    let (listener, connector) = memory::pipe(MemoryConfig::default());
    server.listen(listener);
    connector
}

async fn peer(connector: &MemoryConnector) -> RawPeer<MemoryConnection> {
    RawPeer::new(connector.connect().await.unwrap())
}

/// The number an `n` event carries.
fn numbered(frame: Option<Frame>) -> u32 {
    match frame {
        Some(Frame::Event(event)) if event.name == "n" => {
            PayloadCodec::Bincode.decode(&event.data).unwrap()
        }
        other => panic!("expected an `n` event, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_resume_takes_over_a_half_open_connection_at_once_and_replays_what_was_not_handled() {
    let server = Server::builder().build();
    let connector = serve(&server);
    let mut first = peer(&connector).await;
    let welcome = first.handshake().await;
    for n in 1..=3u32 {
        server.emit("n", n).unwrap();
    }
    for n in 1..=3 {
        assert_eq!(numbered(first.recv().await), n);
    }

    // The first connection stays open, as a path the server has not seen die. The client
    // comes back on a second one, having handled two of the three events.
    let started = Instant::now();
    let mut second = peer(&connector).await;
    let Frame::Hello(mut hello) = RawPeer::<MemoryConnection>::hello() else {
        unreachable!("hello() is a Hello")
    };
    hello.resume = Some(Resume {
        token: welcome.session.clone(),
        offset: 2,
    });
    second.send(&Frame::Hello(hello)).await;
    let resumed = match second.recv().await {
        Some(Frame::Welcome(resumed)) => resumed,
        other => panic!("expected a Welcome, got {other:?}"),
    };
    assert!(resumed.recovered);
    assert_eq!(resumed.sid, welcome.sid, "the same session");
    assert_ne!(resumed.session, welcome.session, "a fresh token");
    assert_eq!(numbered(second.recv().await), 3, "the event not handled");
    assert_eq!(started.elapsed(), Duration::ZERO, "no timer ran out");

    // The stale connection is closed without a word more.
    assert!(first.recv().await.is_none(), "nothing after the takeover");
    server.emit("n", 4u32).unwrap();
    assert_eq!(
        numbered(second.recv().await),
        4,
        "live traffic on the new one"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_writes_out_every_queued_event_then_says_server_shutdown() {
    let server = Server::builder().build();
    let connector = serve(&server);
    let mut raw = peer(&connector).await;
    raw.handshake().await;
    for n in 1..=100u32 {
        server.emit("n", n).unwrap();
    }
    let started = Instant::now();
    let stopping = server.clone();
    let shutdown = tokio::spawn(async move { stopping.shutdown(Duration::from_secs(5)).await });

    for n in 1..=100 {
        assert_eq!(numbered(raw.recv().await), n, "queued before the shutdown");
    }
    match raw.recv().await {
        Some(Frame::Disconnect(bye)) => assert_eq!(bye.reason, DisconnectReason::ServerShutdown),
        other => panic!("expected the Disconnect, got {other:?}"),
    }
    assert_eq!(started.elapsed(), Duration::ZERO, "written out at once");
    drop(raw);
    shutdown.await.unwrap();
    assert!(
        started.elapsed() <= Duration::from_secs(5),
        "ended within its deadline: {:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn an_unresumed_session_loses_its_presence_at_the_grace_and_ends_at_the_window() {
    let grace = Duration::from_secs(10);
    let window = Duration::from_secs(60);
    let recovery = RecoveryConfig::default()
        .window(window)
        .presence_grace(grace);
    let (ended_tx, mut ended) = mpsc::channel(1);
    let (socket_tx, mut sockets) = mpsc::channel(1);
    let server = Server::builder()
        .config(ServerConfig::default().recovery(Some(recovery)))
        .on_connect(move |socket: Socket| {
            let ended_tx = ended_tx.clone();
            socket_tx.try_send(socket.clone()).unwrap();
            socket.join("r").unwrap();
            socket.presence("r").track("alice", ()).unwrap();
            socket.on_disconnect(move |_socket: Socket, reason: DisconnectReason| {
                let ended_tx = ended_tx.clone();
                async move {
                    let _ = ended_tx.send((reason, Instant::now())).await;
                }
            });
            async {}
        })
        .build();
    let connector = serve(&server);
    let mut raw = peer(&connector).await;
    raw.handshake().await;
    let socket = sockets.recv().await.unwrap();
    let closed = tokio::spawn({
        let socket = socket.clone();
        async move {
            socket.closed().await;
            Instant::now()
        }
    });
    let present =
        |keys: Vec<quicket_core::adapter::PresenceKey>| keys.iter().any(|k| k.key == "alice");
    assert!(present(server.presence("r").await));

    let dropped = Instant::now();
    drop(raw);
    // The paused clock moves only when every task waits, so the server has done all it does
    // at an instant before the test wakes just after it.
    let tick = Duration::from_millis(1);
    tokio::time::sleep_until(dropped + grace - tick).await;
    assert!(present(server.presence("r").await), "kept until the grace");
    tokio::time::sleep_until(dropped + grace + tick).await;
    assert!(!present(server.presence("r").await), "gone at the grace");
    assert!(ended.try_recv().is_err(), "the session still waits");
    assert!(
        !closed.is_finished(),
        "a session that may be resumed is not closed"
    );

    let (reason, at) = tokio::time::timeout(window * 2, ended.recv())
        .await
        .expect("the session ends within the window")
        .expect("the handler runs");
    assert_eq!(reason, DisconnectReason::TransportClosed);
    assert_eq!(at - dropped, window, "ended at the window, to the instant");
    assert_eq!(
        closed.await.unwrap() - dropped,
        window,
        "closed as it ended"
    );
    assert!(server.socket(socket.id()).is_none(), "gone from the server");
}
