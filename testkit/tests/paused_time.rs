//! The timing behaviours through the real driver, on tokio's paused clock: each deadline is
//! checked to the millisecond, and a test that waits 45 s of protocol time takes none.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::time::Duration;

use quicket_core::transport::memory::{self, MemoryConfig, MemoryConnection};
use quicket_core::transport::{Connector, FrameReader, Incoming};
use quicket_core::{DisconnectReason, Server, ServerConfig};
use quicket_proto::{Frame, codec};
use quicket_testkit::RawPeer;
use tokio::time::Instant;

/// The next frame the server sends, with the protocol time it arrived at.
async fn next_frame<R: FrameReader>(reader: &mut R, since: Instant) -> (Frame, Duration) {
    loop {
        match reader.recv().await {
            Ok(Incoming::Frame(bytes)) => return (codec::decode(&bytes).unwrap(), since.elapsed()),
            Ok(Incoming::Datagram(_)) => {}
            Ok(other) => panic!("a raw peer offers no channels, yet got {other:?}"),
            Err(err) => panic!("the connection ended without a Disconnect: {err}"),
        }
    }
}

/// A server on `config` and a raw connection to it, before its Hello.
async fn connect_raw(config: ServerConfig) -> (Server, RawPeer<MemoryConnection>) {
    let server = Server::builder().config(config).build();
    let (listener, connector) = memory::pipe(MemoryConfig::default());
    server.listen(listener);
    (server, RawPeer::new(connector.connect().await.unwrap()))
}

fn heartbeat_25_20() -> ServerConfig {
    ServerConfig::default()
        .ping_interval(Duration::from_secs(25))
        .ping_timeout(Duration::from_secs(20))
}

/// Whether `elapsed` is `expected`, to the timer's millisecond.
fn at(elapsed: Duration, expected: Duration) -> bool {
    elapsed >= expected && elapsed <= expected + Duration::from_millis(1)
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_is_pinged_at_the_interval_and_dropped_at_interval_plus_timeout() {
    let (_server, mut raw) = connect_raw(heartbeat_25_20()).await;
    raw.handshake().await;
    let start = Instant::now();

    let (ping, pinged_at) = next_frame(&mut raw.reader, start).await;
    assert!(matches!(ping, Frame::Ping(_)), "got {ping:?}");
    assert!(
        at(pinged_at, Duration::from_secs(25)),
        "pinged at {pinged_at:?}"
    );
    // The peer answers nothing.
    let (bye, dropped_at) = next_frame(&mut raw.reader, start).await;
    let Frame::Disconnect(bye) = bye else {
        panic!("expected the Disconnect, got {bye:?}")
    };
    assert_eq!(bye.reason, DisconnectReason::PingTimeout);
    assert!(
        at(dropped_at, Duration::from_secs(45)),
        "dropped at {dropped_at:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_pong_keeps_the_client_alive_past_the_first_deadline() {
    let (_server, mut raw) = connect_raw(heartbeat_25_20()).await;
    raw.handshake().await;
    let start = Instant::now();

    let (ping, _) = next_frame(&mut raw.reader, start).await;
    let Frame::Ping(ping) = ping else {
        panic!("expected a Ping, got {ping:?}")
    };
    raw.send(&Frame::Pong(quicket_proto::Pong { id: ping.id }))
        .await;
    // Silent from 25 s on: the next ping at 50 s, the end at 25 + 45 = 70 s.
    let (second, second_at) = next_frame(&mut raw.reader, start).await;
    assert!(matches!(second, Frame::Ping(_)), "got {second:?}");
    assert!(
        at(second_at, Duration::from_secs(50)),
        "pinged at {second_at:?}"
    );
    let (bye, dropped_at) = next_frame(&mut raw.reader, start).await;
    assert!(matches!(bye, Frame::Disconnect(_)), "got {bye:?}");
    assert!(
        at(dropped_at, Duration::from_secs(70)),
        "dropped at {dropped_at:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_says_hello_is_closed_at_the_handshake_timeout_with_a_reason() {
    let config = ServerConfig::default().handshake_timeout(Duration::from_secs(10));
    let (_server, mut raw) = connect_raw(config).await;
    let start = Instant::now();

    let (bye, closed_at) = next_frame(&mut raw.reader, start).await;
    let Frame::Disconnect(bye) = bye else {
        panic!("expected the Disconnect, got {bye:?}")
    };
    assert_eq!(bye.reason, DisconnectReason::HandshakeTimeout);
    assert!(
        at(closed_at, Duration::from_secs(10)),
        "closed at {closed_at:?}"
    );
}
