//! `Socket::path_stats`: QUIC's own measurements over WebTransport, the heartbeat's round
//! trip over WebSocket.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::time::Duration;

use quicket::{Endpoints, FallbackOptions, PathStats, Server, ServerConfig, Socket, TransportKind};
use quicket_testkit::within;

const PING_EVERY: Duration = Duration::from_millis(50);

/// The socket's path statistics once they hold a round trip, checked at every heartbeat.
async fn with_rtt(socket: &Socket) -> PathStats {
    let mut heartbeats = tokio::time::interval(PING_EVERY);
    loop {
        heartbeats.tick().await;
        if let Some(stats) = socket.path_stats().filter(|stats| stats.rtt.is_some()) {
            return stats;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_stats_come_from_quic_and_from_the_heartbeat() {
    let config = ServerConfig::default().ping_interval(PING_EVERY);
    let server = Server::builder().config(config).build();
    let serving = quicket::serve(&server, Endpoints::default().ports(0, 0))
        .await
        .unwrap();
    let url = format!("http://127.0.0.1:{}", serving.http.port());
    let quic = within("connect", quicket::connect(&url)).await.unwrap();
    let ws_only = FallbackOptions::default().websocket_only();
    let builder = quicket::Client::builder();
    let ws = within("connect", quicket::connect_with(builder, &url, &ws_only))
        .await
        .unwrap();
    assert_eq!(quic.transport(), TransportKind::WebTransport);
    assert_eq!(ws.transport(), TransportKind::WebSocket);

    // QUIC measured the path during its own handshake.
    let over_quic = server.socket(quic.id()).unwrap().path_stats().unwrap();
    println!("WebTransport: {over_quic:?}");
    assert!(over_quic.rtt.unwrap() < Duration::from_secs(1));
    assert!(over_quic.congestion_window.unwrap() > 0);
    assert!(over_quic.sent_packets.unwrap() > 0);
    assert!(over_quic.lost_packets.is_some());
    assert!(over_quic.mtu.unwrap() >= 1200);
    assert!(quic.path_stats().unwrap().congestion_window.is_some());

    // A WebSocket knows the round trip once a ping has been answered, and nothing else.
    let socket = server.socket(ws.id()).unwrap();
    let over_ws = within("a heartbeat", with_rtt(&socket)).await;
    println!("WebSocket: {over_ws:?}");
    assert!(over_ws.rtt.unwrap() < Duration::from_secs(1));
    assert_eq!(over_ws.congestion_window, None);
    assert_eq!(over_ws.lost_packets, None);
    assert_eq!(over_ws.mtu, None);
}
