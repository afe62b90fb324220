//! Reconnection and connection state recovery (PROTOCOL.md section 10.6).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{Harness, TestServer, next, within};
use crate::transport::{Connector, Listener};
use crate::{
    AckError, AckSender, Client, ClientConfig, Data, DisconnectReason, EmitError, PresenceEvent,
    ReconnectConfig, ReconnectEvent, RecoveryConfig, ResumeFailure, Server, ServerConfig, Socket,
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
/// drop connections in a burst of traffic.
pub fn recovering_server_config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.ping_interval = Duration::from_millis(100);
    config.ping_timeout = Duration::from_millis(200);
    let mut recovery = RecoveryConfig::default();
    recovery.buffer.max_events = 1 << 16;
    recovery.buffer.max_bytes = 64 << 20;
    config.recovery = Some(recovery);
    config
}

/// A client that comes back within tens of milliseconds, with a big buffer.
pub fn quick_reconnect_config() -> ClientConfig {
    let mut config = ClientConfig::default();
    let mut reconnect = ReconnectConfig::default();
    reconnect.delay = Duration::from_millis(10);
    reconnect.max_delay = Duration::from_millis(100);
    config.reconnect = Some(reconnect);
    config.buffer.max_events = 1 << 16;
    config.buffer.max_bytes = 64 << 20;
    config
}

/// Reports each [`ReconnectEvent`] on a channel.
pub fn reconnect_events(
    config: ClientConfig,
) -> (
    crate::ClientBuilder,
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
    loop {
        match events.recv().await {
            Some(ReconnectEvent::Reconnected { recovered, lost }) => return (recovered, lost),
            Some(ReconnectEvent::Failed { attempts }) => panic!("gave up after {attempts}"),
            Some(_) => {}
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
        let mut server = recovering_server_config();
        server.ping_interval = Duration::from_millis(250);
        server.ping_timeout = Duration::from_secs(1);
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
    let server = Server::builder()
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
        let (recovered, lost) =
            tokio::time::timeout(plan.reconnect_within, reconnected_patiently(&mut events))
                .await
                .unwrap_or_else(|_| panic!("no reconnect within {:?}", plan.reconnect_within));
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
    within("up-end", client.emit_with_ack::<()>("up-end", ()))
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

/// `received` is exactly `0..count`, in order.
fn assert_exact(received: &[u64], count: u64, direction: &str) {
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

/// After the window, a resume gets a new session: `recovered = false`, the hook fires with
/// the reason, and presence has already emitted the leave.
pub async fn expired_session_starts_fresh<H: Harness>(harness: &H) {
    let mut config = ServerConfig::default();
    let mut recovery = RecoveryConfig::default();
    recovery.window = Duration::from_millis(200);
    config.recovery = Some(recovery);
    let (failed_tx, mut failed) = mpsc::channel(1);
    let (reasons_tx, mut reasons) = mpsc::channel(4);
    let builder =
        Server::builder()
            .config(config)
            .on_resume_failed(move |socket: Socket, failure| {
                let failed_tx = failed_tx.clone();
                async move {
                    let _ = failed_tx.send((socket.id(), failure)).await;
                }
            });
    let mut t = TestServer::start(harness, builder, move |socket: Socket| {
        super::disconnect_reasons(&socket, &reasons_tx);
        tracking_handlers(&socket);
        async {}
    })
    .await;
    let (observer, _) = t.connect().await;
    within("enter", observer.emit_with_ack::<()>("enter", "bob"))
        .await
        .unwrap();
    let mut watch = observer.subscribe_presence("r").unwrap();
    assert_eq!(
        within("sync", watch.next()).await,
        Some(PresenceEvent::Sync)
    );

    let mut client_config = quick_reconnect_config();
    if let Some(reconnect) = client_config.reconnect.as_mut() {
        // Come back only after the window has closed.
        reconnect.delay = Duration::from_millis(600);
        reconnect.max_delay = Duration::from_millis(600);
        reconnect.randomization = 0.0;
    }
    let (builder, mut events) = reconnect_events(client_config);
    let (client, socket) = t.connect_with(builder).await;
    within("enter", client.emit_with_ack::<()>("enter", "alice"))
        .await
        .unwrap();
    assert!(
        matches!(within("join", watch.next()).await, Some(PresenceEvent::Join { key, .. }) if key == "alice")
    );
    let old_id = client.id();
    socket.drop_connection();
    assert_eq!(
        next(&mut reasons, "the session's end").await,
        DisconnectReason::TransportClosed
    );
    assert!(
        matches!(within("leave", watch.next()).await, Some(PresenceEvent::Leave { key, last: true, .. }) if key == "alice"),
        "the expired session's presence left"
    );
    let (recovered, _) = reconnected(&mut events).await;
    assert!(!recovered);
    assert!(!client.recovered());
    let (new_id, failure) = next(&mut failed, "the resume-failed hook").await;
    assert_eq!(failure, ResumeFailure::UnknownSession);
    assert_eq!(new_id, client.id());
    assert_ne!(new_id, old_id, "a new session has a new id");
}

/// A drop that is recovered shows the other members no leave and no join.
pub async fn recovered_drop_has_no_presence_flicker<H: Harness>(harness: &H) {
    let builder = Server::builder().config(recovering_server_config());
    let mut t = TestServer::start(harness, builder, |socket: Socket| {
        tracking_handlers(&socket);
        async {}
    })
    .await;
    let (observer, _) = t.connect().await;
    within("enter", observer.emit_with_ack::<()>("enter", "bob"))
        .await
        .unwrap();
    let mut watch = observer.subscribe_presence("r").unwrap();
    assert_eq!(
        within("sync", watch.next()).await,
        Some(PresenceEvent::Sync)
    );
    let (builder, mut events) = reconnect_events(quick_reconnect_config());
    let (client, socket) = t.connect_with(builder).await;
    within("enter", client.emit_with_ack::<()>("enter", "alice"))
        .await
        .unwrap();
    assert!(
        matches!(within("join", watch.next()).await, Some(PresenceEvent::Join { key, .. }) if key == "alice")
    );
    let mut own = client.subscribe_presence("r").unwrap();
    assert_eq!(
        within("own sync", own.next()).await,
        Some(PresenceEvent::Sync)
    );

    socket.drop_connection();
    assert_eq!(reconnected(&mut events).await, (true, 0));
    // The client's own watch subscribes again and gets the state, alice still in it.
    assert_eq!(
        within("resync", own.next()).await,
        Some(PresenceEvent::Sync)
    );
    assert!(own.state().contains("alice"));
    // A later join is the next thing the observer sees: nothing about alice came between.
    let (late, _) = t.connect().await;
    within("enter", late.emit_with_ack::<()>("enter", "carol"))
        .await
        .unwrap();
    match within("carol", watch.next()).await {
        Some(PresenceEvent::Join { key, .. }) => assert_eq!(key, "carol"),
        other => panic!("expected carol's join, got {other:?}"),
    }
    assert!(watch.state().contains("alice"));
}

/// Emits while disconnected wait in a bounded buffer and go out in order after the
/// reconnect, with or without a resumed session; one too many is a typed error, and so is
/// an emit that wants an ack. Acks pending at the drop fail with "disconnected".
pub async fn offline_buffer_flushes_in_order<H: Harness>(harness: &H) {
    for recovery in [true, false] {
        let mut config = recovering_server_config();
        if !recovery {
            config.recovery = None;
        }
        let (got_tx, mut got) = mpsc::unbounded_channel::<u64>();
        let (stalled_tx, mut stalled) = mpsc::channel::<()>(1);
        let mut t = TestServer::start(
            harness,
            Server::builder().config(config),
            move |socket: Socket| {
                let got_tx = got_tx.clone();
                let stalled_tx = stalled_tx.clone();
                socket.on("n", move |Data(n): Data<u64>| {
                    let _ = got_tx.send(n);
                    async {}
                });
                socket.on("stall", move |ack: AckSender| {
                    let _ = stalled_tx.try_send(());
                    async move {
                        let _never_answered = ack;
                        std::future::pending::<()>().await;
                    }
                });
                async {}
            },
        )
        .await;
        let mut client_config = quick_reconnect_config();
        client_config.buffer.max_events = 8;
        if let Some(reconnect) = client_config.reconnect.as_mut() {
            reconnect.delay = Duration::from_millis(300);
            reconnect.randomization = 0.0;
        }
        let (builder, mut events) = reconnect_events(client_config);
        let (client, socket) = t.connect_with(builder).await;
        client.emit("n", 0u64).unwrap();
        assert_eq!(next_unbounded(&mut got).await, 0);
        let pending = client.emit_with_ack::<()>("stall", ());
        let pending = tokio::spawn(pending.into_future());
        next(&mut stalled, "the stalled handler").await;

        socket.drop_connection();
        loop {
            match within("reconnecting", events.recv()).await {
                Some(ReconnectEvent::Reconnecting { .. }) => break,
                other => assert!(other.is_some(), "events ended"),
            }
        }
        assert_eq!(
            within("the pending ack", pending).await.unwrap(),
            Err(AckError::Disconnected),
            "a pending ack fails at the drop and is not retried"
        );
        for n in 1..=8u64 {
            client.emit("n", n).unwrap();
        }
        assert_eq!(client.emit("n", 9u64), Err(EmitError::OfflineBufferFull));
        let offline_ack = client.emit_with_ack::<()>("stall", ()).await;
        assert!(
            matches!(
                offline_ack,
                Err(AckError::Disconnected | AckError::Emit(EmitError::Disconnected))
            ),
            "an emit with ack fails at once while disconnected: {offline_ack:?}"
        );
        assert_eq!(reconnected(&mut events).await.0, recovery);
        for n in 1..=8u64 {
            assert_eq!(next_unbounded(&mut got).await, n, "recovery: {recovery}");
        }
        client.emit("n", 10u64).unwrap();
        assert_eq!(
            next_unbounded(&mut got).await,
            10,
            "then live traffic, nothing twice"
        );
        client.disconnect().await;
    }
}

async fn next_unbounded<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    within("the next item", rx.recv())
        .await
        .expect("channel open")
}

fn tracking_handlers(socket: &Socket) {
    socket.on(
        "enter",
        |socket: Socket, Data(user): Data<String>, ack: AckSender| async move {
            socket.join("r").unwrap();
            socket.presence("r").track(&user, ()).unwrap();
            ack.send(()).unwrap();
        },
    );
}

/// A server with 200 clients shuts down while events flow to every one of them: each client
/// receives exactly the events an `emit` accepted for it, then hears `ServerShutdown`.
pub async fn shutdown_under_load_loses_nothing<H: Harness>(harness: &H) {
    const CLIENTS: usize = 200;
    let mut t = TestServer::start(harness, Server::builder(), |_| async {}).await;
    let mut peers = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let (client, socket) = t.connect_with(super::once_only()).await;
        let (tx, rx) = mpsc::unbounded_channel::<u64>();
        client.on("n", move |Data(n): Data<u64>| {
            let _ = tx.send(n);
            async {}
        });
        peers.push((client, socket, rx));
    }
    let sockets: Vec<Socket> = peers.iter().map(|(_, socket, _)| socket.clone()).collect();
    let publisher = tokio::spawn(async move {
        let mut accepted = vec![0u64; sockets.len()];
        let mut refused = vec![false; sockets.len()];
        while refused.contains(&false) {
            for ((socket, accepted), refused) in sockets.iter().zip(&mut accepted).zip(&mut refused)
            {
                // Once an emit is refused, every later one is too: the close has begun.
                if !*refused {
                    match socket.emit("n", *accepted) {
                        Ok(()) => *accepted += 1,
                        Err(_) => *refused = true,
                    }
                }
            }
            tokio::task::yield_now().await;
        }
        accepted
    });
    // Events are flowing to everyone before the shutdown starts.
    for (_, _, rx) in &mut peers {
        assert_eq!(next_unbounded(rx).await, 0);
    }
    within("shutdown", t.server.shutdown(Duration::from_secs(5))).await;
    let accepted = within("the publisher", publisher).await.unwrap();
    let mut total = 0;
    for ((client, _, mut rx), accepted) in peers.into_iter().zip(accepted) {
        assert_eq!(
            within("the client's close", client.closed()).await,
            DisconnectReason::ServerShutdown
        );
        let mut received = vec![0];
        while let Ok(n) = rx.try_recv() {
            received.push(n);
        }
        assert_exact(&received, accepted, "shutdown");
        total += accepted;
    }
    assert!(total >= CLIENTS as u64, "events flowed during the shutdown");
    println!("shutdown under load: {CLIENTS} clients, {total} accepted events each delivered once");
}

/// A resume token is the only way back into a session: a client presenting another
/// session's id, a made-up token or a spent one gets a new session, and the owner keeps its own.
pub async fn resume_needs_the_sessions_own_token<H: Harness>(harness: &H) {
    let mut t = TestServer::start(
        harness,
        Server::builder().config(recovering_server_config()),
        |_| async {},
    )
    .await;
    let (owner, socket) = t.connect().await;
    let attempts = [
        (
            "another session's id",
            bytes::Bytes::copy_from_slice(socket.id().as_bytes()),
        ),
        ("a made-up token", bytes::Bytes::from_static(&[7u8; 32])),
        ("an empty token", bytes::Bytes::new()),
    ];
    for (what, token) in attempts {
        let mut raw = t.raw().await;
        let quicket_proto::Frame::Hello(hello) =
            super::RawPeer::<<H::Connector as Connector>::Connection>::hello()
        else {
            unreachable!()
        };
        let resume = quicket_proto::Resume { token, offset: 0 };
        raw.send(&quicket_proto::Frame::Hello(quicket_proto::Hello {
            resume: Some(resume),
            ..hello
        }))
        .await;
        match within("the answer", raw.recv()).await {
            Some(quicket_proto::Frame::Welcome(welcome)) => {
                assert!(!welcome.recovered, "{what}: not recovered");
                assert_ne!(welcome.sid, socket.id(), "{what}: a new session");
                assert_eq!(welcome.offset, 0, "{what}");
                assert_eq!(welcome.session.len(), 32, "{what}: its own fresh token");
            }
            other => panic!("{what}: expected a Welcome, got {other:?}"),
        }
    }
    // The owner was not disturbed.
    assert!(owner.connected());
    assert_eq!(owner.id(), socket.id());
    let echo = within(
        "the owner still works",
        socket.emit_with_ack::<()>("nothing", ()),
    )
    .await;
    assert!(matches!(echo, Err(AckError::Remote(_))), "{echo:?}");
}

/// With a presence grace shorter than the window, a dropped session's presence leaves at the
/// end of the grace while the session itself still waits for a resume.
pub async fn presence_grace_can_be_shorter_than_the_window<H: Harness>(harness: &H) {
    let mut config = recovering_server_config();
    if let Some(recovery) = config.recovery.as_mut() {
        recovery.window = Duration::from_secs(30);
        recovery.presence_grace = Duration::from_millis(100);
    }
    let mut t = TestServer::start(
        harness,
        Server::builder().config(config),
        |socket: Socket| {
            tracking_handlers(&socket);
            async {}
        },
    )
    .await;
    let (observer, _) = t.connect().await;
    within("enter", observer.emit_with_ack::<()>("enter", "bob"))
        .await
        .unwrap();
    let mut watch = observer.subscribe_presence("r").unwrap();
    assert_eq!(
        within("sync", watch.next()).await,
        Some(PresenceEvent::Sync)
    );
    let (client, socket) = t.connect_with(super::once_only()).await;
    within("enter", client.emit_with_ack::<()>("enter", "alice"))
        .await
        .unwrap();
    assert!(
        matches!(within("join", watch.next()).await, Some(PresenceEvent::Join { key, .. }) if key == "alice")
    );
    let dropped = Instant::now();
    socket.drop_connection();
    match within("alice's leave", watch.next()).await {
        Some(PresenceEvent::Leave {
            key, last: true, ..
        }) => assert_eq!(key, "alice"),
        other => panic!("expected alice to leave, got {other:?}"),
    }
    assert!(
        dropped.elapsed() >= Duration::from_millis(100),
        "not before the grace ended"
    );
    assert!(
        t.server.socket(socket.id()).is_some(),
        "the session still waits for a resume"
    );
}
