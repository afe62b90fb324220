//! Connection state recovery across nodes: a client whose connection to node A drops comes
//! back through node B, twenty times, while numbered events flow both ways; each side ends
//! with the exact sequence. Node B relays the resumed connection to A, which holds the
//! session (its record, found through Redis, names A).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

mod support;

use std::sync::atomic::Ordering;

use quicket::quic::{QuicConnector, QuicListener, ServerIdentity, ServerTrust};
use quicket::ws::WsConnector;
use quicket_core::{Server, Socket};
use quicket_testkit::{DropPlan, recovering_server_config, sequence_survives_drops};

use support::{Backend, FirstThen, Node, config, unique_prefix};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_dropped_on_one_node_recovers_through_another_twenty_times() {
    recovers_through_another_node(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_redis_cluster_a_session_recovers_through_another_node_twenty_times() {
    recovers_through_another_node(true).await;
}

/// Twenty drops from node A, each resumed through node B, on one Redis or on a Redis Cluster.
async fn recovers_through_another_node(cluster: bool) {
    let backend = Backend::get(cluster).await;
    let prefix = unique_prefix("recovery");
    let adapter_a = backend.adapter(config(&prefix)).await;
    let listener = QuicListener::builder(ServerIdentity::dev())
        .bind("127.0.0.1:0".parse().unwrap())
        .listen()
        .await
        .unwrap();
    let quic = listener.handle();
    let url = format!("https://127.0.0.1:{}/quicket", quic.local_addr().port());
    let a = QuicConnector::new(url, ServerTrust::Hashes(quic.certificate_hashes())).unwrap();
    let node_b = Node::serve(backend.adapter(config(&prefix)).await, |builder| {
        builder.config(recovering_server_config())
    })
    .await;
    // The first connection to node A over WebTransport, every later one to node B over
    // WebSocket.
    let connector = FirstThen::new(a, WsConnector::new(node_b.ws.clone()));

    let report = sequence_survives_drops(
        Server::builder().adapter(adapter_a),
        listener,
        connector.clone(),
        DropPlan::clean(20),
        Socket::drop_connection,
    )
    .await;
    assert_eq!(report.reconnects, 20);
    // One dial to A, then every later one to B: at least one per drop. On a loaded machine the
    // scenario's 200 ms heartbeat may drop a path once more (its barrier allows for it), and
    // that path is redialled through B too.
    let dials = connector.dials.load(Ordering::Relaxed);
    assert!(
        dials >= 21,
        "one dial to A, then one to B per drop: {dials}"
    );
    let mut times = report.recovery_times.clone();
    times.sort();
    println!(
        "20 recoveries through node B: {} events down and {} up, exact; recovery median {:?}, max {:?}",
        report.down,
        report.up,
        times[times.len() / 2],
        times[times.len() - 1]
    );
}
