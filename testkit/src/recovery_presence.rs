//! Presence and expiry around a dropped session: no flicker when it comes back, the leave when
//! it does not.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::recovery::{
    quick_reconnect_config, reconnect_events, reconnected, recovering_server_config,
    tracking_handlers,
};
use super::{Harness, TestServer, next, within};
use quicket_core::{
    AckSender, Client, Data, DisconnectReason, PresenceEvent, PresenceWatch, ReconnectConfig,
    RecoveryConfig, ResumeFailure, ServerConfig, Socket,
};

/// After the window, a resume gets a new session: `recovered = false`, the hook fires with
/// the reason, and presence has already emitted the leave.
pub async fn expired_session_starts_fresh<H: Harness>(harness: &H) {
    let recovery = RecoveryConfig::default().window(Duration::from_millis(200));
    let config = ServerConfig::default().recovery(Some(recovery));
    let (failed_tx, mut failed) = mpsc::channel(1);
    let (reasons_tx, mut reasons) = mpsc::channel(4);
    let builder =
        harness
            .builder()
            .await
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
    let (_observer, mut watch) = observer(&mut t).await;

    // Come back only after the window has closed.
    let reconnect = ReconnectConfig::default()
        .delay(Duration::from_millis(600))
        .max_delay(Duration::from_millis(600))
        .randomization(0.0);
    let client_config = quick_reconnect_config().reconnect(Some(reconnect));
    let (builder, mut events) = reconnect_events(client_config);
    let (client, socket) = t.connect_with(builder).await;
    enter_as_alice(&client, &mut watch).await;
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
    let builder = harness.builder().await.config(recovering_server_config());
    let mut t = TestServer::start(harness, builder, |socket: Socket| {
        tracking_handlers(&socket);
        async {}
    })
    .await;
    let (_observer, mut watch) = observer(&mut t).await;
    let (builder, mut events) = reconnect_events(quick_reconnect_config());
    let (client, socket) = t.connect_with(builder).await;
    enter_as_alice(&client, &mut watch).await;
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

/// With a presence grace shorter than the window, a dropped session's presence leaves at the
/// end of the grace while the session itself still waits for a resume.
pub async fn presence_grace_can_be_shorter_than_the_window<H: Harness>(harness: &H) {
    let config = recovering_server_config();
    let recovery = config.recovery.clone().map(|recovery| {
        recovery
            .window(Duration::from_secs(30))
            .presence_grace(Duration::from_millis(100))
    });
    let config = config.recovery(recovery);
    let mut t = TestServer::start(
        harness,
        harness.builder().await.config(config),
        |socket: Socket| {
            tracking_handlers(&socket);
            async {}
        },
    )
    .await;
    let (_observer, mut watch) = observer(&mut t).await;
    let (client, socket) = t.connect_with(super::once_only()).await;
    enter_as_alice(&client, &mut watch).await;
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

/// A session resumed after its presence grace is present again: the other members see it
/// leave at the grace and join again at the resume, with the meta it had.
pub async fn resume_after_the_grace_tracks_presence_again<H: Harness>(harness: &H) {
    let config = recovering_server_config();
    let recovery = config
        .recovery
        .clone()
        .map(|recovery| recovery.presence_grace(Duration::ZERO));
    let builder = harness.builder().await.config(config.recovery(recovery));
    let mut t = TestServer::start(harness, builder, |socket: Socket| {
        socket.on(
            "enter",
            |socket: Socket, Data(user): Data<String>, ack: AckSender| async move {
                socket.join("r").unwrap();
                let meta = format!("{user} at the door");
                socket.presence("r").track(&user, &meta).unwrap();
                ack.send(()).unwrap();
            },
        );
        async {}
    })
    .await;
    let (_observer, mut watch) = observer(&mut t).await;
    // Back only well after the grace (none) has taken the presence away.
    let reconnect = ReconnectConfig::default()
        .delay(Duration::from_millis(300))
        .max_delay(Duration::from_millis(300))
        .randomization(0.0);
    let (builder, mut events) =
        reconnect_events(quick_reconnect_config().reconnect(Some(reconnect)));
    let (client, socket) = t.connect_with(builder).await;
    enter_as_alice(&client, &mut watch).await;

    socket.drop_connection();
    assert!(
        matches!(within("alice's leave", watch.next()).await, Some(PresenceEvent::Leave { key, last: true, .. }) if key == "alice"),
        "the grace took alice's presence"
    );
    assert_eq!(reconnected(&mut events).await, (true, 0));
    match within("alice's join", watch.next()).await {
        Some(PresenceEvent::Join {
            key, first: true, ..
        }) => assert_eq!(key, "alice"),
        other => panic!("expected alice to join again, got {other:?}"),
    }
    assert_eq!(
        watch.state().metas::<String>("alice").unwrap(),
        ["alice at the door"],
        "the meta it had"
    );
    let listed = t.server.presence("r").await;
    assert!(
        listed
            .iter()
            .any(|k| k.key == "alice" && k.metas.iter().all(|m| m.sid == socket.id())),
        "the server lists alice under the resumed session"
    );
}

/// bob in room `r`, watching its presence from the first `Sync` on.
async fn observer<H: Harness>(t: &mut TestServer<H>) -> (Client, PresenceWatch) {
    let (observer, _) = t.connect().await;
    within("enter", observer.emit_with_ack::<()>("enter", "bob"))
        .await
        .unwrap();
    let mut watch = observer.subscribe_presence("r").unwrap();
    assert_eq!(
        within("sync", watch.next()).await,
        Some(PresenceEvent::Sync)
    );
    (observer, watch)
}

/// `client` enters room `r` as alice, and the observer's `watch` sees her join.
async fn enter_as_alice(client: &Client, watch: &mut PresenceWatch) {
    within("enter", client.emit_with_ack::<()>("enter", "alice"))
        .await
        .unwrap();
    assert!(
        matches!(within("join", watch.next()).await, Some(PresenceEvent::Join { key, .. }) if key == "alice")
    );
}
