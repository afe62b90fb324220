//! Real packet loss, duplication and reordering between client and server, through a relay
//! on loopback: reliable events arrive exactly once and in order, acks resolve or time out
//! with a typed error, and datagrams may be lost but never arrive corrupted.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use quicket_core::{AckError, AckSender, Client, Data, Server, Socket};
use quicket_quic::{
    CongestionControl, QuicConnector, QuicLimits, QuicListener, ServerIdentity, ServerTrust,
};
use quicket_testkit::udp_relay;
use tokio::sync::mpsc;

const RELIABLE: u32 = 300;
const VOLATILE: u32 = 300;
const ACKS: u32 = 30;

/// A datagram's payload: its number and bytes derived from it, so corruption shows.
fn body(n: u32) -> Vec<u8> {
    (0..64u32)
        .map(|i| (n.wrapping_mul(31).wrapping_add(i * 7) % 251) as u8)
        .collect()
}

async fn run(loss: f64, seed: u64, congestion: CongestionControl) {
    let limits = QuicLimits::client().congestion(congestion);
    let server = Server::builder()
        .on_connect(|socket: Socket| async move {
            socket.on(
                "ping",
                |ack: AckSender| async move { ack.send("pong").unwrap() },
            );
            socket.on("start", |socket: Socket, ack: AckSender| async move {
                for n in 0..RELIABLE {
                    socket.emit("seq", n).unwrap();
                }
                for n in 0..VOLATILE {
                    socket.volatile().emit("vol", (n, body(n))).unwrap();
                }
                socket.emit("done", ()).unwrap();
                ack.send(()).unwrap();
            });
        })
        .build();
    let listener = QuicListener::builder(ServerIdentity::dev())
        .bind("[::]:0".parse().unwrap())
        .limits(limits.clone())
        .listen()
        .await
        .unwrap();
    let quic = listener.handle();
    server.listen(listener);
    let server_addr = SocketAddr::from(([127, 0, 0, 1], quic.local_addr().port()));
    let relay = udp_relay::start(server_addr, loss, seed).await;
    let url = format!("https://127.0.0.1:{}/quicket", relay.addr.port());
    let trust = ServerTrust::Hashes(quic.certificate_hashes());
    let connector = QuicConnector::with_limits(url, trust, &limits).unwrap();

    let (seq_tx, mut seq) = mpsc::channel(RELIABLE as usize + 1);
    let (vol_tx, mut vol) = mpsc::channel(VOLATILE as usize + 1);
    let (done_tx, mut done) = mpsc::channel(1);
    let client = Client::builder()
        .on("seq", move |Data(n): Data<u32>| {
            seq_tx.try_send(n).unwrap();
            async {}
        })
        .on("vol", move |Data(datagram): Data<(u32, Vec<u8>)>| {
            vol_tx.try_send(datagram).unwrap();
            async {}
        })
        .on("done", move |_: Data<()>| {
            let _ = done_tx.try_send(());
            async {}
        })
        .connect(&connector);
    let deadline = Duration::from_secs(60);
    let client = tokio::time::timeout(deadline, client)
        .await
        .expect("connect under loss")
        .unwrap();
    tokio::time::timeout(
        deadline,
        client.emit_with_ack::<()>("start", ()).timeout(deadline),
    )
    .await
    .expect("start")
    .unwrap();
    tokio::time::timeout(deadline, done.recv())
        .await
        .expect("done")
        .unwrap();

    let mut reliable = Vec::new();
    while let Ok(n) = seq.try_recv() {
        reliable.push(n);
    }
    assert_eq!(
        reliable,
        (0..RELIABLE).collect::<Vec<_>>(),
        "exactly once, in order, at {loss}"
    );

    let (mut acked, mut timed_out) = (0, 0);
    for _ in 0..ACKS {
        match client
            .emit_with_ack::<String>("ping", ())
            .timeout(Duration::from_secs(2))
            .await
        {
            Ok(pong) => {
                assert_eq!(pong, "pong");
                acked += 1;
            }
            Err(AckError::Timeout(_)) => timed_out += 1,
            Err(other) => panic!("an ack failed untyped at {loss}: {other}"),
        }
    }

    // "done" left after every datagram; give stragglers the rest of a round trip.
    let _ = client
        .emit_with_ack::<String>("ping", ())
        .timeout(Duration::from_secs(2))
        .await;
    let mut datagrams = 0;
    while let Ok((n, bytes)) = vol.try_recv() {
        assert!(n < VOLATILE);
        assert_eq!(bytes, body(n), "datagram {n} arrived corrupted");
        datagrams += 1;
    }
    let stats = &relay.stats;
    println!(
        "{} loss {:>4.1}%: reliable {}/{RELIABLE} in order; acks {acked} ok, {timed_out} timed out of {ACKS}; \
         datagrams {datagrams}/{VOLATILE}; relay forwarded {} dropped {} duplicated {} reordered {}",
        congestion.name(),
        loss * 100.0,
        reliable.len(),
        stats.forwarded.load(Ordering::Relaxed),
        stats.dropped.load(Ordering::Relaxed),
        stats.duplicated.load(Ordering::Relaxed),
        stats.reordered.load(Ordering::Relaxed),
    );
    assert!(
        stats.dropped.load(Ordering::Relaxed) > 0,
        "the relay did drop packets"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_percent_loss() {
    run(0.01, 1, CongestionControl::Cubic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_percent_loss() {
    run(0.05, 5, CongestionControl::Cubic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_percent_loss() {
    run(0.20, 20, CongestionControl::Cubic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_percent_loss_with_new_reno() {
    run(0.05, 6, CongestionControl::NewReno).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_percent_loss_with_bbr() {
    run(0.05, 7, CongestionControl::Bbr).await;
}
