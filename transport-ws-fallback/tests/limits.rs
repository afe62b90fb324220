//! The WebSocket endpoint's own limits and its place in an application's axum router.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use quicket_core::{Client, Server, ServerConfig};
use quicket_testkit::{pong_server, within};
use quicket_ws::{WebTransportInfo, WsConfig, WsConnector};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

async fn serve(config: WsConfig) -> (Server, SocketAddr) {
    let server = pong_server(ServerConfig::default());
    let addr = listen(&server, config).await;
    (server, addr)
}

/// `server` on a fresh loopback WebSocket endpoint; its address.
async fn listen(server: &Server, config: WsConfig) -> SocketAddr {
    let listener = quicket_ws::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let addr = quicket_core::transport::Listener::local_addr(&listener).unwrap();
    server.listen(listener);
    addr
}

async fn healthy(addr: SocketAddr) -> Client {
    let connector = WsConnector::new(format!("ws://{addr}/quicket"));
    let client = within("connect", Client::builder().connect(&connector))
        .await
        .unwrap();
    let pong: String = within("ping", client.emit_with_ack("ping", ()))
        .await
        .unwrap();
    assert_eq!(pong, "pong");
    client
}

type RawSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw socket that has said Hello and read the Welcome.
async fn handshaken(addr: SocketAddr) -> RawSocket {
    let url = format!("ws://{addr}/quicket");
    let (mut socket, _) = within("raw", tokio_tungstenite::connect_async(url))
        .await
        .unwrap();
    let hello = quicket_testkit::RawPeer::<quicket_ws::WsClientConnection>::hello();
    socket
        .send(Message::binary(quicket_proto::codec::encode(&hello)))
        .await
        .unwrap();
    match within("welcome", socket.next()).await {
        Some(Ok(Message::Binary(frame))) => {
            let welcome = quicket_proto::codec::decode(&frame);
            assert!(matches!(welcome, Ok(quicket_proto::Frame::Welcome(_))));
        }
        other => panic!("expected the Welcome, got {other:?}"),
    }
    socket
}

/// The close code the server ends a raw socket with.
async fn close_code<S>(socket: &mut tokio_tungstenite::WebSocketStream<S>) -> Option<CloseCode>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match within("the close", socket.next()).await {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_declared_too_large_closes_with_1009_before_it_is_sent() {
    let (_server, addr) = serve(WsConfig::default()).await;
    for handshake_first in [false, true] {
        let mut socket = if handshake_first {
            handshaken(addr).await
        } else {
            let url = format!("ws://{addr}/quicket");
            within("raw", tokio_tungstenite::connect_async(url))
                .await
                .unwrap()
                .0
        };
        // A binary frame header declaring 3 GiB, masked as a client must, and not a byte more.
        let mut header = vec![0x82, 0x80 | 127];
        header.extend_from_slice(&(3u64 << 30).to_be_bytes());
        header.extend_from_slice(&[1, 2, 3, 4]);
        match socket.get_mut() {
            tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp.write_all(&header).await.unwrap(),
            _ => unreachable!("plain ws"),
        }
        assert_eq!(
            close_code(&mut socket).await,
            Some(CloseCode::Size),
            "after Hello: {handshake_first}"
        );
    }
    healthy(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_and_garbage_messages_close_with_a_protocol_error() {
    let (_server, addr) = serve(WsConfig::default()).await;
    for message in [Message::text("hello"), Message::binary(vec![0xEE, 1, 2])] {
        let mut socket = handshaken(addr).await;
        socket.send(message).await.unwrap();
        assert_eq!(close_code(&mut socket).await, Some(CloseCode::Protocol));
    }
    healthy(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_origin_is_refused() {
    let (_server, addr) = serve(WsConfig::default().allow_origins(["https://game.example"])).await;
    let request = |origin: &str| {
        let mut request = format!("ws://{addr}/quicket")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
        request
    };
    match within(
        "refusal",
        tokio_tungstenite::connect_async(request("https://evil.example")),
    )
    .await
    {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("a foreign origin must get 403, got {other:?}"),
    }
    let allowed = within(
        "allowed",
        tokio_tungstenite::connect_async(request("https://game.example")),
    )
    .await;
    assert!(allowed.is_ok());
    healthy(addr).await; // a native client sends no Origin
}

/// Sends a plain HTTP/1.1 GET and returns the status and body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    within("response", tcp.read_to_string(&mut response))
        .await
        .unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quicket_mounts_into_an_application_router_beside_its_routes() {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    // In the application's own server, quicket learns its public address from the config.
    let config = WsConfig::default()
        .public_host(addr.to_string())
        .webtransport(|| {
            Some(WebTransportInfo::new(
                4433,
                "/quicket",
                vec!["aGFzaA==".into()],
                1200,
            ))
        });
    let (routes, listener) = quicket_ws::router(config);
    let app = axum::Router::new()
        .route("/hello", axum::routing::get(|| async { "hi from the app" }))
        .merge(routes);
    tokio::spawn(async move {
        axum::serve(tcp, app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap();
    });
    let server = pong_server(ServerConfig::default());
    server.listen(listener);

    assert_eq!(
        http_get(addr, "/hello").await,
        (200, "hi from the app".to_owned())
    );
    let (status, body) = http_get(addr, "/quicket/info").await;
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["protocolVersion"], 1);
    assert_eq!(info["webtransport"], "https://127.0.0.1:4433/quicket");
    assert_eq!(info["websocket"], format!("ws://{addr}/quicket"));
    assert_eq!(info["certificateHashes"][0]["algorithm"], "sha-256");
    assert_eq!(info["certificateHashes"][0]["value"], "aGFzaA==");
    assert_eq!(info["maxDatagramSize"], 1200);
    let _client = healthy(addr).await;
    let socket = server.sockets().await.remove(0);
    assert!(socket.peer_addr().unwrap().ip().is_loopback());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_upgrade_request_is_dropped() {
    let config = WsConfig::default().header_read_timeout(Duration::from_millis(200));
    let (_server, addr) = serve(config).await;
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /quicket HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    // The server gives up on the headers and closes (after a 408, if it sends one).
    within(
        "the server to drop the slow request",
        tcp.read_to_end(&mut rest),
    )
    .await
    .unwrap();
    let _client = healthy(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_at_most_its_connections() {
    let config = quicket_core::ServerConfig::default().max_connections_per_source(2);
    let server = Server::builder().config(config).build();
    let addr = listen(&server, WsConfig::default()).await;
    let first = handshaken(addr).await;
    let _second = handshaken(addr).await;
    assert_server_full(addr).await;
    drop(first);
    within("the first connection to be released", async {
        while server.connection_count() > 1 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    handshaken(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_that_never_ends_is_refused_at_its_size_cap() {
    // Long enough that only the size cap can end this request within the test's wait.
    let config = WsConfig::default()
        .header_read_timeout(Duration::from_secs(600))
        .max_request_head(16 << 10);
    let (_server, addr) = serve(config).await;
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /quicket HTTP/1.1\r\nHost: x\r\nX-Pad: ")
        .await
        .unwrap();
    // 64 KiB of one header, and no end: the server must not keep buffering it.
    let pad = vec![b'a'; 64 << 10];
    let _refused_mid_write = tcp.write_all(&pad).await;
    let mut response = Vec::new();
    let _reset = within("the refusal", tcp.read_to_end(&mut response)).await;
    let head = String::from_utf8_lossy(&response);
    assert!(
        response.is_empty() || head.starts_with("HTTP/1.1 431"),
        "either a 431 or a plain close, got {head:?}"
    );
    healthy(addr).await;
}

/// The discovery document at `addr`, asked with `host` as the `Host` header.
async fn discovery_with_host(addr: SocketAddr, host: &str) -> serde_json::Value {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request =
        format!("GET /quicket/info HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    within("response", tcp.read_to_string(&mut response))
        .await
        .unwrap();
    let (_, body) = response.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_never_echoes_the_requests_host() {
    let wt = || Some(WebTransportInfo::new(4433, "/quicket", Vec::new(), 1200));
    let (_server, addr) = serve(WsConfig::default().webtransport(wt)).await;
    let info = discovery_with_host(addr, "evil.example").await;
    assert_eq!(info["websocket"], format!("ws://{addr}/quicket"));
    assert_eq!(info["webtransport"], "https://127.0.0.1:4433/quicket");

    let config = WsConfig::default()
        .public_host("chat.example:8443")
        .webtransport(wt);
    let (_server, addr) = serve(config).await;
    let info = discovery_with_host(addr, "evil.example").await;
    assert_eq!(info["websocket"], "ws://chat.example:8443/quicket");
    assert_eq!(info["webtransport"], "https://chat.example:4433/quicket");
}

/// A raw connection that says Hello is refused with `ServerFull`.
async fn assert_server_full(addr: SocketAddr) {
    let url = format!("ws://{addr}/quicket");
    let (mut socket, _) = within("raw", tokio_tungstenite::connect_async(url))
        .await
        .unwrap();
    let hello = quicket_testkit::RawPeer::<quicket_ws::WsClientConnection>::hello();
    socket
        .send(Message::binary(quicket_proto::codec::encode(&hello)))
        .await
        .unwrap();
    match within("the refusal", socket.next()).await {
        Some(Ok(Message::Binary(frame))) => match quicket_proto::codec::decode(&frame) {
            Ok(quicket_proto::Frame::Reject(reject)) => {
                assert_eq!(reject.reason, quicket_proto::RejectReason::ServerFull);
            }
            other => panic!("expected ServerFull, got {other:?}"),
        },
        other => panic!("expected ServerFull, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_at_most_its_handshakes_in_flight() {
    let config = quicket_core::ServerConfig::default().max_handshakes_per_source(2);
    let server = Server::builder().config(config).build();
    let addr = listen(&server, WsConfig::default()).await;
    // Two connections that never say Hello.
    let url = format!("ws://{addr}/quicket");
    let mut silent = Vec::new();
    for _ in 0..2 {
        let (socket, _) = within("raw", tokio_tungstenite::connect_async(url.clone()))
            .await
            .unwrap();
        silent.push(socket);
    }
    within("both to reach the server", async {
        while server.connection_count() < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_server_full(addr).await;
    drop(silent);
    within("the silent connections to be released", async {
        while server.connection_count() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    // Finished handshakes do not count: three sessions at once are fine.
    let _sessions = [
        handshaken(addr).await,
        handshaken(addr).await,
        handshaken(addr).await,
    ];
}
