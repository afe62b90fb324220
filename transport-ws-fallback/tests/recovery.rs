//! Connection state recovery over WebSocket when the TCP connection breaks without a close
//! frame: the client goes through a TCP relay, and a cut ends both of the relay's sockets with
//! an RST (a NAT that forgets the connection, a crashed middlebox) or with a FIN (the kernel
//! closing a crashed client's socket, a killed tab).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use quicket_core::testkit::tcp_relay::{self, TcpRelay};
use quicket_core::testkit::{DropPlan, RawPeer, sequence_survives_drops};
use quicket_core::transport::Listener;
use quicket_proto::{Frame, Hello, Resume, Welcome, codec};
use quicket_ws::{WsConfig, WsConnector};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

async fn within<F: std::future::IntoFuture>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(10), future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

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
