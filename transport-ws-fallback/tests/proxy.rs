//! Behind a reverse proxy: a trusted proxy's `X-Forwarded-For` names the client, so
//! per-address limits apply to clients and the socket knows its client's address; from anyone
//! else the header is ignored.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::net::{IpAddr, SocketAddr};

use futures_util::{SinkExt, StreamExt};
use quicket_core::transport::Listener;
use quicket_core::{Server, ServerConfig, Socket};
use quicket_proto::{Frame, codec};
use quicket_testkit::{RawPeer, within};
use quicket_ws::WsConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Open =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
type Peers = tokio::sync::mpsc::UnboundedReceiver<Option<SocketAddr>>;

/// The server's answer to a `Hello` sent as if through a proxy for `client`, and the
/// connection, which counts toward its source's limit while it is open.
async fn hello_from(addr: SocketAddr, client: &str) -> (Frame, Open) {
    let mut request = format!("ws://{addr}/quicket")
        .into_client_request()
        .unwrap();
    let forwarded = format!("203.0.113.9, {client}").parse().unwrap();
    request.headers_mut().insert("x-forwarded-for", forwarded);
    let (mut socket, _) = within("the upgrade", tokio_tungstenite::connect_async(request))
        .await
        .unwrap();
    let hello = RawPeer::<quicket_ws::WsClientConnection>::hello();
    let hello = Message::binary(codec::encode(&hello));
    socket.send(hello).await.unwrap();
    let reply = match within("the reply", socket.next()).await {
        Some(Ok(Message::Binary(frame))) => codec::decode(&frame).unwrap(),
        other => panic!("expected a frame, got {other:?}"),
    };
    (reply, socket)
}

/// A server allowing one connection per source address, trusting `trusted` as proxies; the
/// peer address of each socket it opens.
async fn serve(trusted: Vec<IpAddr>) -> (Server, SocketAddr, Peers) {
    let config = WsConfig::default().trusted_proxies(trusted);
    let listener = quicket_ws::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (peers_tx, peers) = tokio::sync::mpsc::unbounded_channel();
    let server = Server::builder()
        .config(ServerConfig::default().max_connections_per_source(1))
        .on_connect(move |socket: Socket| {
            let _ = peers_tx.send(socket.handshake().connection().peer_addr);
            async {}
        })
        .build();
    server.listen(listener);
    (server, addr, peers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxys_forwarded_address_is_the_client() {
    let (_server, addr, mut peers) = serve(vec!["127.0.0.1".parse().unwrap()]).await;
    let (first, _a) = hello_from(addr, "198.51.100.1").await;
    assert!(matches!(first, Frame::Welcome(_)), "{first:?}");
    let (second, _b) = hello_from(addr, "198.51.100.2").await;
    assert!(
        matches!(second, Frame::Welcome(_)),
        "another client behind the same proxy has its own limit: {second:?}"
    );
    let (third, _c) = hello_from(addr, "198.51.100.1").await;
    assert!(
        matches!(third, Frame::Reject(_)),
        "the first client is at its limit of 1: {third:?}"
    );
    let first = within("a socket", peers.recv()).await.unwrap().unwrap();
    assert_eq!(first.ip(), "198.51.100.1".parse::<IpAddr>().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_from_anyone_else_changes_nothing() {
    let (_server, addr, mut peers) = serve(Vec::new()).await;
    let (first, _a) = hello_from(addr, "198.51.100.1").await;
    assert!(matches!(first, Frame::Welcome(_)), "{first:?}");
    let (second, _b) = hello_from(addr, "198.51.100.2").await;
    assert!(
        matches!(second, Frame::Reject(_)),
        "both come from 127.0.0.1, whatever they claim: {second:?}"
    );
    let first = within("a socket", peers.recv()).await.unwrap().unwrap();
    assert_eq!(first.ip(), "127.0.0.1".parse::<IpAddr>().unwrap());
}
