//! Connection migration over real QUIC: the client's path goes through a UDP relay that moves
//! its server-facing side to a new port mid-stream, several times, as a NAT that rebinds does.
//! The server follows the client to its new address on the same QUIC connection: numbered
//! reliable events keep flowing both ways, exactly once and in order, volatile datagrams keep
//! flowing, and the client never reconnects.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::within;
use quicket_core::{AckSender, Client, Data, ReconnectEvent, Server, Socket};
use quicket_quic::{QuicConnector, ServerTrust};
use quicket_testkit::{assert_exact, udp_relay};
use tokio::sync::mpsc;

const REBINDS: u64 = 5;
/// Events each way that must arrive after each rebind, beyond those emitted before it.
const AFTER: u64 = 50;
/// Room for every event of a run in each inbox: about one a millisecond each way.
const INBOX: usize = 1 << 16;

/// Emits `event` with 0, 1, 2… every millisecond until `running` clears; `sent` follows the
/// count, which the task returns.
fn pace(
    running: &Arc<AtomicBool>,
    sent: &Arc<AtomicU64>,
    mut emit: impl FnMut(u64) + Send + 'static,
) -> tokio::task::JoinHandle<u64> {
    let (running, sent) = (Arc::clone(running), Arc::clone(sent));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        let mut n = 0;
        while running.load(Ordering::Relaxed) {
            tick.tick().await;
            emit(n);
            n += 1;
            sent.store(n, Ordering::Relaxed);
        }
        n
    })
}

/// Receives into `seen` until an event numbered `at_least` or more has arrived.
async fn receive_until(inbox: &mut mpsc::Receiver<u64>, seen: &mut Vec<u64>, at_least: u64) {
    loop {
        let n = within("the next event", inbox.recv()).await.unwrap();
        seen.push(n);
        if n >= at_least {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nat_rebinds_keep_the_connection_and_the_sequence_exact() {
    let (up_tx, mut up) = mpsc::channel::<u64>(INBOX);
    let (socket_tx, mut sockets) = mpsc::channel::<Socket>(4);
    let server = Server::builder()
        .on_connect(move |socket: Socket| {
            let up_tx = up_tx.clone();
            socket.on("up", move |Data(n): Data<u64>| {
                up_tx.try_send(n).expect("the test reads its inbox");
                async {}
            });
            socket.on(
                "up-end",
                |ack: AckSender| async move { ack.send(()).unwrap() },
            );
            socket_tx.try_send(socket).unwrap();
            async {}
        })
        .build();
    let quic = common::serve(&server).await;
    let relay = udp_relay::start(
        SocketAddr::from(([127, 0, 0, 1], quic.local_addr().port())),
        0.0,
        1,
    )
    .await;
    let url = format!("https://127.0.0.1:{}/quicket", relay.addr.port());
    let connector =
        QuicConnector::new(url, ServerTrust::Hashes(quic.certificate_hashes())).unwrap();

    let (down_tx, mut down) = mpsc::channel::<u64>(INBOX);
    let (volatile_tx, mut volatile) = mpsc::channel::<u64>(INBOX);
    let (end_tx, mut end) = mpsc::channel::<u64>(1);
    let (reconnect_tx, mut reconnects) = mpsc::channel::<ReconnectEvent>(16);
    let client = Client::builder()
        .on_reconnect(move |event| {
            let _ = reconnect_tx.try_send(event.clone());
        })
        .on("down", move |Data(n): Data<u64>| {
            down_tx.try_send(n).expect("the test reads its inbox");
            async {}
        })
        .on("vol", move |Data(n): Data<u64>| {
            let _ = volatile_tx.try_send(n);
            async {}
        })
        .on("down-end", move |Data(total): Data<u64>| {
            let _ = end_tx.try_send(total);
            async {}
        })
        .connect(&connector);
    let client = within("connect", client).await.unwrap();
    let socket = within("the socket", sockets.recv()).await.unwrap();
    let id = client.id();
    assert_eq!(
        socket.peer_addr(),
        Some(relay.outbound()),
        "the server sees the client at the relay's server-facing side"
    );
    assert!(
        client.max_datagram_size().is_some(),
        "volatile events travel as datagrams"
    );

    let running = Arc::new(AtomicBool::new(true));
    let (down_sent, up_sent) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let publisher = {
        let socket = socket.clone();
        pace(&running, &down_sent, move |n| {
            socket.emit("down", n).unwrap();
            socket.volatile().emit("vol", n).unwrap();
        })
    };
    let uplink = {
        let client = client.clone();
        pace(&running, &up_sent, move |n| client.emit("up", n).unwrap())
    };

    let (mut received_down, mut received_up) = (Vec::new(), Vec::new());
    for _ in 0..REBINDS {
        receive_until(&mut down, &mut received_down, AFTER).await;
        let old = relay.outbound();
        let new = relay.rebind().await;
        assert_ne!(new, old, "the relay moved to a new port");
        // Everything numbered from here on was emitted after the old path was gone.
        let (down_mark, up_mark) = (
            down_sent.load(Ordering::Relaxed),
            up_sent.load(Ordering::Relaxed),
        );
        receive_until(&mut down, &mut received_down, down_mark + AFTER).await;
        receive_until(&mut up, &mut received_up, up_mark + AFTER).await;
        within("a datagram over the new path", async {
            while volatile.recv().await.unwrap() < down_mark {}
        })
        .await;
        // Events emitted after the rebind have come in over the new path, so the connection
        // has moved to it.
        assert_eq!(
            socket.peer_addr(),
            Some(new),
            "the socket names the client's new address"
        );
    }
    running.store(false, Ordering::Relaxed);
    let down_total = within("the publisher", publisher).await.unwrap();
    let up_total = within("the uplink", uplink).await.unwrap();
    socket.emit("down-end", down_total).unwrap();
    assert_eq!(within("down-end", end.recv()).await.unwrap(), down_total);
    while let Ok(n) = down.try_recv() {
        received_down.push(n);
    }
    within("up-end", client.emit_with_ack::<()>("up-end", ()))
        .await
        .unwrap();
    while let Ok(n) = up.try_recv() {
        received_up.push(n);
    }

    assert_exact(&received_down, down_total, "server → client");
    assert_exact(&received_up, up_total, "client → server");
    assert_eq!(relay.stats.rebinds.load(Ordering::Relaxed), REBINDS);
    assert!(
        reconnects.try_recv().is_err(),
        "the client never dropped its connection"
    );
    assert!(
        sockets.try_recv().is_err(),
        "the server never saw a second connection"
    );
    assert_eq!(client.id(), id, "the same session throughout");
    assert_eq!(socket.id(), id, "the same socket throughout");
    println!(
        "{REBINDS} rebinds: {down_total} events down and {up_total} up exact; the socket \
         followed the client to {:?}",
        socket.peer_addr()
    );
    client.disconnect().await;
}
