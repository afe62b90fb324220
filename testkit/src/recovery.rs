//! Reconnection and connection state recovery (PROTOCOL.md section 10.6).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{Harness, next, within};
use quicket_core::transport::{Connector, Listener};
use quicket_core::{
    AckSender, Client, ClientConfig, Data, ReconnectConfig, ReconnectEvent, RecoveryConfig,
    ReplayLimits, ServerBuilder, ServerConfig, Socket,
};

/// What [`sequence_survives_drops`] saw.
#[derive(Debug, Default)]
pub struct RecoveryReport {
    /// Server → client reliable events emitted, and received by the client.
    pub down: u64,
    /// Client → server reliable events emitted, and handled by the server.
    pub up: u64,
    /// Connections dropped and resumed.
    pub reconnects: u32,
    /// From each drop to the client's `Reconnected`, in order.
    pub recovery_times: Vec<Duration>,
}

impl RecoveryReport {
    /// The median and the slowest recovery.
    pub fn median_and_max(&self) -> (Duration, Duration) {
        let mut times = self.recovery_times.clone();
        times.sort();
        let median = times.get(times.len() / 2).copied().unwrap_or_default();
        (median, times.last().copied().unwrap_or_default())
    }
}

/// A server that notices a silent path within 300 ms and keeps big buffers, so a test can
/// drop connections in a burst of traffic; it has no rate limit, since the bursts go far past
/// the default one (thousands of events a second from one client).
pub fn recovering_server_config() -> ServerConfig {
    ServerConfig::default()
        .rate_limit(None)
        .ping_interval(Duration::from_millis(100))
        .ping_timeout(Duration::from_millis(200))
        .recovery(Some(RecoveryConfig::default().buffer(big_buffer())))
}

/// A client that comes back within tens of milliseconds, with a big buffer.
pub fn quick_reconnect_config() -> ClientConfig {
    let reconnect = ReconnectConfig::default()
        .delay(Duration::from_millis(10))
        .max_delay(Duration::from_millis(100));
    ClientConfig::default()
        .reconnect(Some(reconnect))
        .buffer(big_buffer())
}

/// Room for the events of a burst.
fn big_buffer() -> ReplayLimits {
    ReplayLimits::default()
        .max_events(1 << 16)
        .max_bytes(64 << 20)
}

/// Reports each [`ReconnectEvent`] on a channel.
pub fn reconnect_events(
    config: ClientConfig,
) -> (
    quicket_core::ClientBuilder,
    mpsc::UnboundedReceiver<ReconnectEvent>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let builder = Client::builder().config(config).on_reconnect(move |event| {
        let _ = tx.send(event.clone());
    });
    (builder, rx)
}

/// Waits for the next `Reconnected`, skipping the attempts before it.
pub async fn reconnected(events: &mut mpsc::UnboundedReceiver<ReconnectEvent>) -> (bool, u64) {
    within("a reconnect", reconnected_patiently(events)).await
}

/// [`reconnected`] without a deadline of its own.
async fn reconnected_patiently(
    events: &mut mpsc::UnboundedReceiver<ReconnectEvent>,
) -> (bool, u64) {
    reconnected_noting(events, &mut Vec::new()).await
}

/// [`reconnected_patiently`], noting the events before the `Reconnected` (the attempts and
/// why each failed), for a report when it never comes.
async fn reconnected_noting(
    events: &mut mpsc::UnboundedReceiver<ReconnectEvent>,
    seen: &mut Vec<String>,
) -> (bool, u64) {
    loop {
        match events.recv().await {
            Some(ReconnectEvent::Reconnected { recovered, lost }) => return (recovered, lost),
            Some(ReconnectEvent::Failed { attempts }) => panic!("gave up after {attempts}"),
            Some(other) => seen.push(format!("{other:?}")),
            None => panic!("the client is gone"),
        }
    }
}

/// How many drops [`sequence_survives_drops`] makes, and how patient it is.
#[derive(Debug, Clone)]
pub struct DropPlan {
    /// Drops, each followed by a resume.
    pub rounds: u32,
    /// The server (and so the client's heartbeat).
    pub server: ServerConfig,
    /// How long one reconnect may take.
    pub reconnect_within: Duration,
}

impl DropPlan {
    /// `rounds` drops on a clean path: silence is noticed within 300 ms.
    pub fn clean(rounds: u32) -> Self {
        Self {
            rounds,
            server: recovering_server_config(),
            reconnect_within: super::DEADLINE,
        }
    }

    /// `rounds` drops on a lossy path: QUIC's own retransmissions can delay a ping by hundreds
    /// of milliseconds, and a handshake by seconds, without anything being wrong.
    pub fn lossy(rounds: u32) -> Self {
        let server = recovering_server_config()
            .ping_interval(Duration::from_millis(250))
            .ping_timeout(Duration::from_secs(1));
        Self {
            rounds,
            server,
            reconnect_within: Duration::from_secs(45),
        }
    }
}

/// Numbered reliable events flow both ways while `cut` breaks the connection `plan.rounds`
/// times; each side ends with exactly the full sequence, no gap and no duplicate.
pub async fn sequence_survives_drops<L, C>(
    builder: ServerBuilder,
    listener: L,
    connector: C,
    plan: DropPlan,
    cut: impl Fn(&Socket),
) -> RecoveryReport
where
    L: Listener,
    C: Connector + Clone,
{
    let (up_tx, mut up) = mpsc::unbounded_channel::<u64>();
    let (socket_tx, mut sockets) = mpsc::unbounded_channel();
    let rounds = plan.rounds;
    let server = builder
        .config(plan.server.clone())
        .on_connect(move |socket: Socket| {
            let up_tx = up_tx.clone();
            let socket_tx = socket_tx.clone();
            async move {
                socket.join("feed").unwrap();
                socket.on("up", move |Data(n): Data<u64>| {
                    let _ = up_tx.send(n);
                    async {}
                });
                socket.on(
                    "up-end",
                    |ack: AckSender| async move { ack.send(()).unwrap() },
                );
                let _ = socket_tx.send(socket);
            }
        })
        .build();
    server.listen(listener);

    let (down_tx, mut down) = mpsc::unbounded_channel::<u64>();
    let (end_tx, mut end) = mpsc::channel::<u64>(1);
    let (builder, mut events) = reconnect_events(quick_reconnect_config());
    let client = builder
        .on("down", move |Data(n): Data<u64>| {
            let _ = down_tx.send(n);
            async {}
        })
        .on("down-end", move |Data(total): Data<u64>| {
            let _ = end_tx.try_send(total);
            async {}
        })
        .connect(&connector);
    let client = within("connect", client).await.unwrap();
    let socket = within("the socket", sockets.recv()).await.unwrap();

    let running = Arc::new(AtomicBool::new(true));
    let publisher = {
        let (server, running) = (server.clone(), Arc::clone(&running));
        tokio::spawn(async move {
            let mut n = 0u64;
            while running.load(Ordering::Relaxed) {
                for _ in 0..8 {
                    let reached = server.to("feed").emit("down", n).unwrap();
                    assert_eq!(reached, 1, "event {n} was accepted for the session");
                    n += 1;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            server.to("feed").emit("down-end", n).unwrap();
            n
        })
    };
    let uplink = {
        let (client, running) = (client.clone(), Arc::clone(&running));
        let sent = Arc::new(AtomicU64::new(0));
        tokio::spawn(async move {
            let mut n = 0u64;
            while running.load(Ordering::Relaxed) {
                for _ in 0..8 {
                    client.emit("up", n).unwrap();
                    n += 1;
                }
                sent.store(n, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            n
        })
    };

    let mut report = RecoveryReport::default();
    let mut received_down = Vec::new();
    for _ in 0..rounds {
        // Traffic is flowing on this connection before it is cut.
        received_down.push(within("traffic", down.recv()).await.unwrap());
        let dropped = Instant::now();
        cut(&socket);
        let mut seen = Vec::new();
        let waited = tokio::time::timeout(
            plan.reconnect_within,
            reconnected_noting(&mut events, &mut seen),
        )
        .await;
        let (recovered, lost) = waited.unwrap_or_else(|_| {
            panic!(
                "round {}: no reconnect within {:?}; the client's reconnect events: {seen:?}",
                report.reconnects + 1,
                plan.reconnect_within
            )
        });
        assert!(
            recovered,
            "round {}: the session resumed",
            report.reconnects + 1
        );
        assert_eq!(lost, 0, "the client's buffer held every unhandled event");
        report.recovery_times.push(dropped.elapsed());
        report.reconnects += 1;
    }
    running.store(false, Ordering::Relaxed);
    report.down = within("the publisher", publisher).await.unwrap();
    report.up = within("the uplink", uplink).await.unwrap();

    let total = next_of(&mut end, "down-end").await;
    assert_eq!(total, report.down);
    while let Ok(n) = down.try_recv() {
        received_down.push(n);
    }
    assert_exact(&received_down, report.down, "server → client");
    // A barrier: every event sent before it was handled. On a loaded machine the 300 ms
    // heartbeat may drop the path once more while it waits; an ack is never resent across a
    // drop (PROTOCOL.md 10.6), so ask again.
    within("up-end", async {
        loop {
            match client.emit_with_ack::<()>("up-end", ()).await {
                Err(quicket_core::AckError::Disconnected) => {
                    reconnected_patiently(&mut events).await;
                }
                done => return done,
            }
        }
    })
    .await
    .unwrap();
    let mut received_up = Vec::new();
    while let Ok(n) = up.try_recv() {
        received_up.push(n);
    }
    assert_exact(&received_up, report.up, "client → server");
    assert_eq!(client.id(), socket.id(), "the socket id survived");
    client.disconnect().await;
    report
}

async fn next_of<T>(rx: &mut mpsc::Receiver<T>, what: &str) -> T {
    next(rx, what).await
}

/// Asserts that `received` is exactly `0..count`, in order; the failure names `direction`.
pub fn assert_exact(received: &[u64], count: u64, direction: &str) {
    let duplicates = received.len() as i64 - count as i64;
    let first_wrong = received
        .iter()
        .enumerate()
        .find(|(i, n)| **n != *i as u64)
        .map(|(i, n)| (i, *n));
    assert!(
        first_wrong.is_none() && duplicates == 0,
        "{direction}: {} events for {count} sent; first out of place: {first_wrong:?}",
        received.len()
    );
}

/// The server drops the connection 20 times mid-stream; both directions stay exact.
pub async fn sequence_survives_server_side_drops<H: Harness>(harness: &H) {
    let (listener, connector) = harness.pair().await;
    let report = sequence_survives_drops(
        harness.builder().await,
        listener,
        connector,
        DropPlan::clean(20),
        Socket::drop_connection,
    )
    .await;
    let (median, max) = report.median_and_max();
    println!(
        "server-side drops: {} reconnects, {} events down and {} up exact; recovery median {median:?}, max {max:?}",
        report.reconnects, report.down, report.up
    );
    assert_eq!(report.reconnects, 20);
}

pub(super) async fn next_unbounded<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    within("the next item", rx.recv())
        .await
        .expect("channel open")
}

pub(super) fn tracking_handlers(socket: &Socket) {
    socket.on(
        "enter",
        |socket: Socket, Data(user): Data<String>, ack: AckSender| async move {
            socket.join("r").unwrap();
            socket.presence("r").track(&user, ()).unwrap();
            ack.send(()).unwrap();
        },
    );
}
