//! Helpers shared by the QUIC integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use quicket_core::{Client, Server};
use quicket_quic::{QuicConnector, QuicHandle, QuicListener, ServerIdentity, ServerTrust};
pub(crate) use quicket_testkit::within;

/// A dev-certificate listener on a free dual-stack port.
pub(crate) async fn listener() -> QuicListener {
    QuicListener::builder(ServerIdentity::dev())
        .bind("[::]:0".parse().unwrap())
        .listen()
        .await
        .unwrap()
}

/// A listener with `identity` on a free IPv4 loopback port, or why it could not start.
pub(crate) async fn listener_with(
    identity: ServerIdentity,
) -> Result<QuicListener, quicket_quic::QuicError> {
    QuicListener::builder(identity)
        .bind("127.0.0.1:0".parse().unwrap())
        .listen()
        .await
}

/// A connector to `host` on the listener's port, pinning its current hashes.
pub(crate) fn connector(quic: &QuicHandle, host: &str) -> QuicConnector {
    let url = format!("https://{host}:{}/quicket", quic.local_addr().port());
    QuicConnector::new(url, ServerTrust::Hashes(quic.certificate_hashes())).unwrap()
}

/// A server on a fresh listener; returns it with the listener's handle.
pub(crate) async fn serve(server: &Server) -> QuicHandle {
    let listener = listener().await;
    let quic = listener.handle();
    server.listen(listener);
    quic
}

/// Connects a default client to `host`.
pub(crate) async fn client(quic: &QuicHandle, host: &str) -> Client {
    within("connect", Client::builder().connect(&connector(quic, host)))
        .await
        .unwrap()
}

/// A WebTransport session with no quicket client on it, pinning the listener's hashes: a
/// hostile peer's starting point.
pub(crate) async fn raw_session(quic: &QuicHandle) -> wtransport::Connection {
    raw_session_from(quic, "127.0.0.1:0".parse().unwrap()).await
}

/// A raw session from a client socket bound to `local` (another loopback address, say).
pub(crate) async fn raw_session_from(
    quic: &QuicHandle,
    local: std::net::SocketAddr,
) -> wtransport::Connection {
    let url = format!("https://127.0.0.1:{}/quicket", quic.local_addr().port());
    within("a raw session", raw_endpoint(quic, local).connect(url))
        .await
        .unwrap()
}

/// A WebTransport client endpoint bound to `local`, pinning the listener's hashes.
pub(crate) fn raw_endpoint(
    quic: &QuicHandle,
    local: std::net::SocketAddr,
) -> wtransport::Endpoint<wtransport::endpoint::endpoint_side::Client> {
    let config = wtransport::ClientConfig::builder()
        .with_bind_address(local)
        .with_server_certificate_hashes(
            quic.certificate_hashes()
                .iter()
                .map(|h| wtransport::tls::Sha256Digest::new(*h.as_bytes())),
        )
        .build();
    wtransport::Endpoint::client(config).unwrap()
}
