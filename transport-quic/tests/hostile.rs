//! Hostile peers: refused requests, garbage packets, stream floods, vanishing clients. The
//! server stays up, serves everyone else, and holds nothing for them afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

mod common;

use std::time::Duration;

use common::{client, connector, within};
use quicket_core::{Client, Server, ServerConfig, Socket};
use quicket_quic::{Admission, QuicConnector, QuicListener, ServerIdentity, ServerTrust};
use quicket_testkit::pong_server;
use tokio::sync::mpsc;

fn echo_server() -> Server {
    pong_server(ServerConfig::default().handshake_timeout(Duration::from_millis(300)))
}

/// The echo server on a fresh dual-stack listener.
async fn serving() -> (Server, quicket_quic::QuicHandle) {
    let server = echo_server();
    let quic = common::serve(&server).await;
    (server, quic)
}

/// The client gets its ack back.
async fn assert_pongs(client: &Client) {
    let pong: String = within("ping", client.emit_with_ack("ping", ()))
        .await
        .unwrap();
    assert_eq!(pong, "pong");
}

async fn healthy(quic: &quicket_quic::QuicHandle) {
    let client = client(quic, "127.0.0.1").await;
    assert_pongs(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pre_accept_hook_decides_before_a_session_is_spent() {
    let (seen_tx, mut seen) = mpsc::channel(16);
    let listener = QuicListener::builder(ServerIdentity::dev())
        .bind("127.0.0.1:0".parse().unwrap())
        .pre_accept(move |request| {
            let seen_tx = seen_tx.clone();
            async move {
                let verdict = match request.query_param("token") {
                    Some("good") => Admission::Accept,
                    Some("busy") => Admission::TooManyRequests,
                    _ => Admission::Forbidden,
                };
                let _ = seen_tx.send((request.path.clone(), request.remote)).await;
                verdict
            }
        })
        .listen()
        .await
        .unwrap();
    let quic = listener.handle();
    let server = echo_server();
    server.listen(listener);
    let port = quic.local_addr().port();
    let trust = || ServerTrust::Hashes(quic.certificate_hashes());
    for token in ["bad", "busy"] {
        let url = format!("https://127.0.0.1:{port}/quicket?token={token}");
        let connector = QuicConnector::new(url, trust()).unwrap();
        let refused = within("refusal", Client::builder().connect(&connector)).await;
        assert!(refused.is_err(), "{token}");
        let (path, remote) = within("hook", seen.recv()).await.unwrap();
        assert_eq!(path, "/quicket");
        assert!(remote.ip().is_loopback());
    }
    let url = format!("https://127.0.0.1:{port}/elsewhere");
    let connector = QuicConnector::new(url, trust()).unwrap();
    assert!(
        within("404", Client::builder().connect(&connector))
            .await
            .is_err()
    );
    let url = format!("https://127.0.0.1:{port}/quicket?token=good");
    let client = within(
        "connect",
        Client::builder().connect(&QuicConnector::new(url, trust()).unwrap()),
    )
    .await
    .unwrap();
    assert_pongs(&client).await;
    assert_eq!(
        server.sockets().await.len(),
        1,
        "refused requests made no sockets"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_packets_and_vanishing_clients_leave_the_server_serving() {
    let (server, quic) = serving().await;
    let target = std::net::SocketAddr::from(([127, 0, 0, 1], quic.local_addr().port()));
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for size in [1usize, 20, 1200, 1500, 64] {
        for _ in 0..20 {
            let garbage: Vec<u8> = (0..size)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            udp.send_to(&garbage, target).await.unwrap();
        }
    }
    healthy(&quic).await;
    // Clients that open a session and vanish before their first frame, or right after.
    for _ in 0..10 {
        let connector = connector(&quic, "127.0.0.1");
        let raw = within(
            "raw connect",
            quicket_core::transport::Connector::connect(&connector),
        )
        .await
        .unwrap();
        drop(raw);
    }
    healthy(&quic).await;
    within("every connection to be released", async {
        while server.connection_count() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_cannot_open_streams_beyond_the_limit() {
    let (_server, quic) = serving().await;
    let session = common::raw_session(&quic).await;
    let mut opened = Vec::new();
    for _ in 0..20 {
        let Ok(Ok(opening)) =
            tokio::time::timeout(Duration::from_millis(200), session.open_bi()).await
        else {
            break;
        };
        let Ok(Ok((mut send, recv))) =
            tokio::time::timeout(Duration::from_millis(200), opening).await
        else {
            break;
        };
        let _ = send.write_all(b"\x05junk!").await;
        opened.push((send, recv));
    }
    assert!(
        opened.len() <= 2,
        "a peer opened {} streams at once",
        opened.len()
    );
    healthy(&quic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_speaking_the_wrong_alpn_is_refused_and_the_server_goes_on() {
    use std::sync::Arc;
    use wtransport::tls::rustls;

    let (_server, quic) = serving().await;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(
            wtransport::tls::client::NoServerVerification::new(),
        ))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let config = wtransport::ClientConfig::builder()
        .with_bind_default()
        .with_custom_tls(tls)
        .build();
    let endpoint = wtransport::Endpoint::client(config).unwrap();
    let url = format!("https://127.0.0.1:{}/quicket", quic.local_addr().port());
    assert!(within("refusal", endpoint.connect(url)).await.is_err());
    healthy(&quic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_in_flight_are_capped() {
    let (started_tx, mut started) = mpsc::channel(4);
    let limits = quicket_quic::QuicLimits::default()
        .max_pending_handshakes(1)
        .handshake_timeout(Duration::from_millis(500));
    let listener = QuicListener::builder(ServerIdentity::dev())
        .bind("127.0.0.1:0".parse().unwrap())
        .limits(limits)
        .pre_accept(move |request| {
            let started_tx = started_tx.clone();
            async move {
                if request.query_param("token") == Some("slow") {
                    let _ = started_tx.send(()).await;
                    std::future::pending::<()>().await;
                }
                Admission::Accept
            }
        })
        .listen()
        .await
        .unwrap();
    let quic = listener.handle();
    let server = echo_server();
    server.listen(listener);
    let url = |token: &str| {
        format!(
            "https://127.0.0.1:{}/quicket?token={token}",
            quic.local_addr().port()
        )
    };
    let trust = || ServerTrust::Hashes(quic.certificate_hashes());
    let slow = QuicConnector::new(url("slow"), trust()).unwrap();
    let slow = tokio::spawn(async move { Client::builder().connect(&slow).await.map(|_| ()) });
    within("the slow handshake", started.recv()).await.unwrap();
    // The only handshake slot is taken: the next connection is refused at once.
    let next = QuicConnector::new(url("fast"), trust()).unwrap();
    assert!(
        within("refusal", Client::builder().connect(&next))
            .await
            .is_err()
    );
    // The slow one times out, which frees the slot.
    assert!(
        within("the slow handshake's end", slow)
            .await
            .unwrap()
            .is_err()
    );
    let again = QuicConnector::new(url("fast"), trust()).unwrap();
    let client = within("connect", Client::builder().connect(&again))
        .await
        .unwrap();
    assert_pongs(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_shutdown_new_sessions_are_refused_at_once() {
    let (server, quic) = serving().await;
    let first = connector(&quic, "127.0.0.1");
    let once = quicket_testkit::once_only().connect(&first);
    let before = within("connect", once).await.unwrap();
    server.shutdown(std::time::Duration::from_secs(5)).await;
    let reason = within("closed", before.closed()).await;
    assert_eq!(reason, quicket_core::DisconnectReason::ServerShutdown);
    let late = connector(&quic, "127.0.0.1");
    assert!(
        within("a refusal, not a hang", Client::builder().connect(&late))
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datagram_above_the_advertised_size_is_discarded() {
    use quicket_core::{Data, Raw};
    use quicket_proto::{Event, Frame, codec};
    use quicket_testkit::RawPeer;

    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let server = Server::builder()
        .on_connect(move |socket: Socket| {
            let seen_tx = seen_tx.clone();
            async move {
                socket.on("vol", move |Data(Raw(data)): Data<Raw>| {
                    let _ = seen_tx.send(data.len());
                    async {}
                });
            }
        })
        .build();
    // An advertised size below what the path carries from the start (about 1,160 bytes
    // before MTU discovery), so the larger datagram does reach the server.
    let limits = quicket_quic::QuicLimits::default().max_incoming_datagram(600);
    let listener = QuicListener::builder(ServerIdentity::dev())
        .bind("127.0.0.1:0".parse().unwrap())
        .limits(limits)
        .listen()
        .await
        .unwrap();
    let quic = listener.handle();
    server.listen(listener);
    let connector = connector(&quic, "127.0.0.1");
    let connection = within(
        "raw connect",
        quicket_core::transport::Connector::connect(&connector),
    )
    .await
    .unwrap();
    let mut raw = RawPeer::new(connection);
    raw.handshake().await;
    let datagrams = raw.datagrams.clone().expect("the session has datagrams");
    let volatile = |size: usize| {
        codec::encode(&Frame::Event(Event {
            name: "vol".into(),
            ack: None,
            data: vec![7; size].into(),
        }))
    };
    let (large, small) = (volatile(700), volatile(100));
    assert!(large.len() > 600 && large.len() <= datagrams.max_size());
    datagrams.send(large).unwrap();
    datagrams.send(small).unwrap();
    assert_eq!(within("the small datagram", seen.recv()).await, Some(100));
    assert!(
        seen.try_recv().is_err(),
        "the large one never reached a handler"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_origin_is_refused_before_a_session_is_spent() {
    let listener = QuicListener::builder(ServerIdentity::dev())
        .bind("127.0.0.1:0".parse().unwrap())
        .allow_origins(["https://game.example"])
        .listen()
        .await
        .unwrap();
    let quic = listener.handle();
    echo_server().listen(listener);
    let endpoint = common::raw_endpoint(&quic, "127.0.0.1:0".parse().unwrap());
    let url = format!("https://127.0.0.1:{}/quicket", quic.local_addr().port());
    let from = |origin: &str| {
        wtransport::endpoint::ConnectOptions::builder(&url)
            .add_header("origin", origin)
            .build()
    };
    let refused = within("refusal", endpoint.connect(from("https://evil.example"))).await;
    assert!(refused.is_err(), "a foreign origin must be refused");
    let allowed = within("allowed", endpoint.connect(from("https://game.example"))).await;
    assert!(allowed.is_ok(), "{:?}", allowed.err());
    healthy(&quic).await; // a native client sends no Origin
}
