//! Connection state recovery over WebSocket when the TCP connection is reset: the client goes
//! through a TCP relay, and a cut resets both of the relay's sockets (RST, not FIN), as a NAT
//! that forgets the connection or a crashed middlebox would.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use quicket_core::testkit::tcp_relay;
use quicket_core::testkit::{DropPlan, sequence_survives_drops};
use quicket_core::transport::Listener;
use quicket_ws::{WsConfig, WsConnector};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_reset_twenty_times_loses_and_duplicates_nothing() {
    let listener = quicket_ws::bind("127.0.0.1:0".parse().unwrap(), WsConfig::default())
        .await
        .unwrap();
    let relay = Arc::new(tcp_relay::start(listener.local_addr().unwrap()).await);
    let connector = WsConnector::new(format!("ws://{}/quicket", relay.addr));
    let cut = Arc::clone(&relay);
    let report = sequence_survives_drops(
        quicket_core::Server::builder(),
        listener,
        connector,
        DropPlan::clean(20),
        move |_socket| cut.cut(),
    )
    .await;
    let (median, max) = report.median_and_max();
    println!(
        "tcp reset: {} reconnects, {} events down and {} up exact; recovery median {median:?}, max {max:?}",
        report.reconnects, report.down, report.up
    );
    assert_eq!(report.reconnects, 20);
    assert_eq!(
        relay.resets.load(Ordering::Relaxed),
        20,
        "each cut reset a live connection"
    );
}
