//! One server on WebTransport and WebSocket at once: clients discover it, fall back when UDP
//! is blocked, and meet in the same rooms whatever they landed on.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use quicket::ws::{WebTransportInfo, WsConfig};
use quicket::{
    AckSender, Client, Data, Endpoints, FallbackOptions, PresenceEvent, Server, Socket,
    TransportKind,
};
use quicket_testkit::within;
use tokio::sync::mpsc;

fn chat_server() -> Server {
    Server::builder()
        .on_connect(|socket: Socket| async move {
            socket.on(
                "enter",
                |socket: Socket, Data(name): Data<String>, ack: AckSender| async move {
                    socket.join("hall").unwrap();
                    socket
                        .presence("hall")
                        .track(&name, socket.transport().to_string())
                        .unwrap();
                    ack.send(()).unwrap();
                },
            );
            socket.on(
                "say",
                |socket: Socket, Data(text): Data<String>, ack: AckSender| async move {
                    socket.to("hall").emit("said", &text).unwrap();
                    ack.send(socket.transport().to_string()).unwrap();
                },
            );
            socket.on("wave", |socket: Socket, Data(n): Data<u32>| async move {
                let _ = socket.to("hall").volatile().emit("waved", n);
            });
        })
        .build()
}

/// A WebSocket-only server whose discovery advertises WebTransport on `udp_port`.
async fn websocket_advertising(udp_port: u16, hashes: Vec<String>) -> (Server, SocketAddr) {
    let config = WsConfig::default().webtransport(move || {
        Some(WebTransportInfo::new(
            udp_port,
            "/quicket",
            hashes.clone(),
            1200,
        ))
    });
    let server = chat_server();
    let listener = quicket::ws::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let http = quicket::transport::Listener::local_addr(&listener).unwrap();
    server.listen(listener);
    (server, http)
}

fn base(http: SocketAddr) -> String {
    format!("http://127.0.0.1:{}", http.port())
}

/// A client that records what it hears.
async fn join(
    http: SocketAddr,
    name: &str,
    options: FallbackOptions,
) -> (Client, mpsc::Receiver<String>, mpsc::Receiver<u32>) {
    let (said_tx, said) = mpsc::channel(64);
    let (waved_tx, waved) = mpsc::channel(64);
    let builder = Client::builder()
        .on("said", move |Data(text): Data<String>| {
            said_tx.try_send(text).unwrap();
            async {}
        })
        .on("waved", move |Data(n): Data<u32>| {
            let _ = waved_tx.try_send(n);
            async {}
        });
    let client = within(
        "connect",
        quicket::connect_with(builder, &base(http), &options),
    )
    .await
    .unwrap();
    within("enter", client.emit_with_ack::<()>("enter", name))
        .await
        .unwrap();
    (client, said, waved)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webtransport_and_websocket_clients_share_rooms_and_presence() {
    let server = chat_server();
    let serving = quicket::serve(&server, Endpoints::default().ports(0, 0))
        .await
        .unwrap();
    let ws_only = FallbackOptions::default().websocket_only();
    let (quic, mut quic_said, mut quic_waved) =
        join(serving.http, "ada", FallbackOptions::default()).await;
    let (ws, mut ws_said, mut ws_waved) = join(serving.http, "linus", ws_only).await;
    assert_eq!(quic.transport(), TransportKind::WebTransport);
    assert_eq!(ws.transport(), TransportKind::WebSocket);

    let via: String = within("ack", quic.emit_with_ack("say", "over quic"))
        .await
        .unwrap();
    assert_eq!(via, "webtransport");
    assert_eq!(within("relay", ws_said.recv()).await.unwrap(), "over quic");
    let via: String = within("ack", ws.emit_with_ack("say", "over ws"))
        .await
        .unwrap();
    assert_eq!(via, "websocket");
    assert_eq!(within("relay", quic_said.recv()).await.unwrap(), "over ws");

    for watcher in [&quic, &ws] {
        let mut presence = watcher.subscribe_presence("hall").unwrap();
        assert_eq!(
            within("sync", presence.next()).await.unwrap(),
            PresenceEvent::Sync
        );
        let state = presence.state();
        assert_eq!(state.metas::<String>("ada").unwrap(), ["webtransport"]);
        assert_eq!(state.metas::<String>("linus").unwrap(), ["websocket"]);
    }

    // Volatile events are best effort both ways; on loopback one of a few arrives.
    for (from, to) in [(&quic, &mut ws_waved), (&ws, &mut quic_waved)] {
        let mut arrived = false;
        for n in 0..20u32 {
            from.volatile().emit("wave", n).unwrap();
            if tokio::time::timeout(Duration::from_millis(200), to.recv())
                .await
                .is_ok()
            {
                arrived = true;
                break;
            }
        }
        assert!(arrived, "a volatile event crossed transports");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_lands_on_webtransport_when_it_works() {
    let server = chat_server();
    let serving = quicket::serve(&server, Endpoints::default().ports(0, 0))
        .await
        .unwrap();
    let started = Instant::now();
    let client = within("connect", quicket::connect(&base(serving.http)))
        .await
        .unwrap();
    println!(
        "landed on {} in {:?}",
        client.transport(),
        started.elapsed()
    );
    assert_eq!(client.transport(), TransportKind::WebTransport);
    let discovery = quicket::discover(&base(serving.http)).await.unwrap();
    let ws = within("ws", quicket::connect_ws(&discovery.websocket))
        .await
        .unwrap();
    assert_eq!(ws.transport(), TransportKind::WebSocket);
    let trust = quicket::quic::ServerTrust::Hashes(serving.quic.certificate_hashes());
    let url = discovery.webtransport.clone().unwrap();
    let quic = within("quic", quicket::connect_quic(&url, trust))
        .await
        .unwrap();
    assert_eq!(quic.transport(), TransportKind::WebTransport);
    assert_eq!(
        discovery.certificate_hashes[0].value,
        serving.quic.certificate_hashes()[0].to_base64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_falls_back_to_websocket_when_udp_is_blocked() {
    // The advertised UDP port swallows every packet, as a firewall that drops UDP does.
    let black_hole = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let udp_port = black_hole.local_addr().unwrap().port();
    let hash = quicket::quic::DevCertificate::default().generate().unwrap();
    let hash = quicket::quic::CertificateHash::of(&hash)
        .unwrap()
        .to_base64();
    let (_server, http) = websocket_advertising(udp_port, vec![hash]).await;

    for deadline in [Duration::from_millis(500), Duration::from_secs(3)] {
        let options = FallbackOptions::default().deadline(deadline);
        let started = Instant::now();
        let (client, _, _) = join(http, "behind-a-firewall", options).await;
        let elapsed = started.elapsed();
        println!(
            "UDP blocked, deadline {deadline:?}: landed on {} after {elapsed:?}",
            client.transport()
        );
        assert_eq!(client.transport(), TransportKind::WebSocket);
        assert!(elapsed >= deadline, "WebTransport had its full deadline");
        let via: String = within("ack", client.emit_with_ack("say", "hello"))
            .await
            .unwrap();
        assert_eq!(via, "websocket");
    }
    drop(black_hole);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_falls_back_when_nothing_listens_on_udp() {
    // Nothing listens on the advertised UDP port; QUIC ignores the ICMP errors, so the
    // deadline decides.
    let port = {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let (_server, http) = websocket_advertising(port, vec![]).await;
    let started = Instant::now();
    let options = FallbackOptions::default().deadline(Duration::from_secs(3));
    let (client, _, _) = join(http, "refused", options).await;
    println!(
        "UDP port closed: landed on {} after {:?}",
        client.transport(),
        started.elapsed()
    );
    assert_eq!(client.transport(), TransportKind::WebSocket);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_falls_back_when_webtransport_opens_but_never_answers() {
    // A QUIC endpoint that accepts sessions, with no server behind it to read their Hello.
    let silent = quicket::quic::QuicListener::builder(quicket::quic::ServerIdentity::dev())
        .bind("127.0.0.1:0".parse().unwrap())
        .listen()
        .await
        .unwrap();
    let quic = silent.handle();
    let hashes = quic
        .certificate_hashes()
        .iter()
        .map(|hash| hash.to_base64())
        .collect();
    let (_server, http) = websocket_advertising(quic.local_addr().port(), hashes).await;
    let config = quicket::ClientConfig::default().handshake_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let builder = Client::builder().config(config);
    let client = within(
        "connect",
        quicket::connect_with(builder, &base(http), &FallbackOptions::default()),
    )
    .await
    .unwrap();
    println!(
        "WebTransport silent after its handshake: landed on {} after {:?}",
        client.transport(),
        started.elapsed()
    );
    assert_eq!(client.transport(), TransportKind::WebSocket);
    drop(silent);
}
