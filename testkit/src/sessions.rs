//! Sessions beyond a single drop: the offline buffer, resume tokens, and shutdown under load.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};

use super::recovery::{
    assert_exact, next_unbounded, quick_reconnect_config, reconnect_events, reconnected,
    recovering_server_config,
};
use super::{Harness, TestServer, next, within};
use quicket_core::transport::Connector;
use quicket_core::{
    AckError, AckSender, Data, DisconnectReason, EmitError, ReconnectConfig, ReconnectEvent,
    ReplayLimits, Socket,
};

/// Emits while disconnected wait in a bounded buffer and go out in order after the
/// reconnect, with or without a resumed session; one too many is a typed error, and so is
/// an emit that wants an ack. Acks pending at the drop fail with "disconnected".
pub async fn offline_buffer_flushes_in_order<H: Harness>(harness: &H) {
    for recovery in [true, false] {
        let mut config = recovering_server_config();
        if !recovery {
            config = config.recovery(None);
        }
        let (got_tx, mut got) = mpsc::unbounded_channel::<u64>();
        let (stalled_tx, mut stalled) = mpsc::channel::<()>(1);
        let mut t = TestServer::start(
            harness,
            harness.builder().await.config(config),
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
        let reconnect = ReconnectConfig::default()
            .delay(Duration::from_millis(300))
            .randomization(0.0);
        let client_config = quick_reconnect_config()
            .buffer(ReplayLimits::default().max_events(8))
            .reconnect(Some(reconnect));
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

/// A server with 200 clients shuts down while events flow to every one of them: each client
/// receives exactly the events an `emit` accepted for it, then hears `ServerShutdown`.
pub async fn shutdown_under_load_loses_nothing<H: Harness>(harness: &H) {
    const CLIENTS: usize = 200;
    let mut t = TestServer::start(harness, harness.builder().await, |_| async {}).await;
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
    for (client, _, rx) in &mut peers {
        let first = within("each client's first event", async {
            tokio::select! {
                biased;
                n = rx.recv() => n,
                reason = client.closed() => panic!("a client closed before its first event: {reason:?}"),
            }
        })
        .await;
        assert_eq!(first, Some(0));
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

/// A connect handler that has not finished when the connection drops runs on, once, to its
/// end: the resumed session has the handlers it registers, and the events sent before and
/// after the drop wait for it, then are each handled once.
pub async fn connect_handler_outlives_an_early_drop<H: Harness>(harness: &H) {
    let gate = Arc::new(Semaphore::new(0));
    let runs = Arc::new(AtomicUsize::new(0));
    let (socket_tx, mut sockets) = mpsc::channel(1);
    let (notes_tx, mut notes) = mpsc::unbounded_channel::<String>();
    let builder = harness.builder().await.config(recovering_server_config());
    let t = TestServer::start(harness, builder, {
        let (gate, runs) = (gate.clone(), runs.clone());
        move |socket: Socket| {
            let _ = socket_tx.try_send(socket.clone());
            let (gate, runs, notes_tx) = (gate.clone(), runs.clone(), notes_tx.clone());
            async move {
                let _open = gate.acquire().await;
                runs.fetch_add(1, Ordering::SeqCst);
                socket.on("note", move |Data(text): Data<String>| {
                    let _ = notes_tx.send(text);
                    async {}
                });
                socket.on(
                    "echo",
                    |Data(text): Data<String>, ack: AckSender| async move {
                        let _ = ack.send(text);
                    },
                );
            }
        }
    })
    .await;
    let (builder, mut events) = reconnect_events(quick_reconnect_config());
    let client = within("connect", builder.connect(&t.connector))
        .await
        .expect("connects");
    let socket = next(&mut sockets, "the socket").await;
    client.emit("note", "before the drop").unwrap();
    socket.drop_connection();
    assert_eq!(reconnected(&mut events).await, (true, 0));
    let echo = client.emit_with_ack::<String>("echo", "after the drop");
    gate.add_permits(1);
    assert_eq!(within("the echo", echo).await.unwrap(), "after the drop");
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the connect handler ran once"
    );
    // Events start in arrival order, so the note was handled before the echo.
    assert_eq!(notes.try_recv().as_deref(), Ok("before the drop"));
    assert!(notes.try_recv().is_err(), "the note was handled once");
}

/// A connect handler that never ends (a ticker loop) and outlived a drop is dropped when
/// its session ends, not kept running.
pub async fn unending_connect_handler_ends_with_its_session<H: Harness>(harness: &H) {
    /// Tells the test when the handler's future is dropped.
    struct Dropped(mpsc::UnboundedSender<()>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    let (dropped_tx, mut dropped) = mpsc::unbounded_channel();
    let (socket_tx, mut sockets) = mpsc::channel(1);
    let builder = harness.builder().await.config(recovering_server_config());
    let t = TestServer::start(harness, builder, move |socket: Socket| {
        let _ = socket_tx.try_send(socket);
        let guard = Dropped(dropped_tx.clone());
        async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        }
    })
    .await;
    let (builder, mut events) = reconnect_events(quick_reconnect_config());
    let client = within("connect", builder.connect(&t.connector))
        .await
        .expect("connects");
    let socket = next(&mut sockets, "the socket").await;
    socket.drop_connection();
    assert_eq!(reconnected(&mut events).await, (true, 0));
    assert!(dropped.try_recv().is_err(), "kept while the session lives");
    within("the disconnect", client.disconnect()).await;
    within("the session's end", socket.closed()).await;
    within("the handler dropped", dropped.recv()).await;
}

/// A resume token is the only way back into a session: a client presenting another
/// session's id, a made-up token or a spent one gets a new session, and the owner keeps its own.
pub async fn resume_needs_the_sessions_own_token<H: Harness>(harness: &H) {
    let mut t = TestServer::start(
        harness,
        harness.builder().await.config(recovering_server_config()),
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
