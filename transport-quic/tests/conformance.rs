//! The core conformance suite over real QUIC on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use quicket_quic::{QuicConnector, QuicListener, ServerIdentity, ServerTrust};
use quicket_testkit::Harness;

/// A dual-stack listener on a free port, reached over IPv4 with the dev certificate pinned.
struct Quic;

impl Harness for Quic {
    type Listener = QuicListener;
    type Connector = QuicConnector;

    async fn pair(&self) -> (QuicListener, QuicConnector) {
        let listener = QuicListener::builder(ServerIdentity::dev())
            .bind("[::]:0".parse().unwrap())
            .listen()
            .await
            .unwrap();
        let quic = listener.handle();
        let url = format!("https://127.0.0.1:{}/quicket", quic.local_addr().port());
        let connector =
            QuicConnector::new(url, ServerTrust::Hashes(quic.certificate_hashes())).unwrap();
        (listener, connector)
    }
}

quicket_testkit::conformance_tests!(Quic);
