//! `Endpoints` settings that reach both transports: the origin allow-list refuses a foreign
//! page's WebSocket upgrade and WebTransport session alike, and the pre-accept hook decides
//! on WebTransport session requests.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::net::SocketAddr;

use quicket::quic::Admission;
use quicket::{Endpoints, Server, Serving};
use quicket_testkit::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn serving() -> Serving {
    let loopback = "127.0.0.1:0".parse().unwrap();
    let endpoints = Endpoints::default()
        .bind(loopback, loopback)
        .allow_origins(["https://game.example"])
        .pre_accept(|request| async move {
            if request.query_param("token") == Some("banned") {
                Admission::Forbidden
            } else {
                Admission::Accept
            }
        });
    quicket::serve(&Server::builder().build(), endpoints)
        .await
        .unwrap()
}

/// The status of a WebSocket upgrade sent from a page of `origin`.
async fn upgrade_status(http: SocketAddr, origin: &str) -> u16 {
    let mut tcp = tokio::net::TcpStream::connect(http).await.unwrap();
    let request = format!(
        "GET /quicket HTTP/1.1\r\nHost: {http}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Origin: {origin}\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    within("the status line", tcp.read_exact(&mut head))
        .await
        .unwrap();
    std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap()
}

/// Whether a WebTransport session opens from a page of `origin`, with `query`.
async fn session_opens(serving: &Serving, origin: &str, query: &str) -> bool {
    let config = wtransport::ClientConfig::builder()
        .with_bind_default()
        .with_server_certificate_hashes(
            serving
                .quic
                .certificate_hashes()
                .iter()
                .map(|h| wtransport::tls::Sha256Digest::new(*h.as_bytes())),
        )
        .build();
    let endpoint = wtransport::Endpoint::client(config).unwrap();
    let port = serving.quic.local_addr().port();
    let options = wtransport::endpoint::ConnectOptions::builder(format!(
        "https://127.0.0.1:{port}/quicket{query}"
    ))
    .add_header("origin", origin)
    .build();
    within("the session request", endpoint.connect(options))
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origins_and_the_pre_accept_hook_apply_to_both_transports() {
    let serving = serving().await;
    assert_eq!(
        upgrade_status(serving.http, "https://evil.example").await,
        403
    );
    assert_eq!(
        upgrade_status(serving.http, "https://game.example").await,
        101
    );
    assert!(!session_opens(&serving, "https://evil.example", "").await);
    assert!(session_opens(&serving, "https://game.example", "").await);
    assert!(!session_opens(&serving, "https://game.example", "?token=banned").await);
}
