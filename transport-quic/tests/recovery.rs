//! Connection state recovery over real QUIC when the client's path dies without a word: each
//! connection goes through its own UDP relay, and a cut drops the relay, so every packet of
//! that connection vanishes both ways, as when a phone loses its network. Both sides notice
//! through the heartbeat; the client dials a new path and resumes the session.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use quicket_core::transport::{Connector, TransportError};
use quicket_quic::{CertificateHash, QuicConnection, QuicConnector, ServerTrust};
use quicket_testkit::udp_relay::{self, UdpRelay};
use quicket_testkit::{DropPlan, RecoveryReport, sequence_survives_drops};

/// Dials each connection through a fresh relay (and a fresh client UDP socket).
#[derive(Clone)]
struct Relayed {
    server: SocketAddr,
    hashes: Vec<CertificateHash>,
    loss: f64,
    seed: Arc<AtomicU64>,
    live: Arc<Mutex<Option<(UdpRelay, QuicConnector)>>>,
}

impl Relayed {
    /// Drops the current path: its packets vanish from now on.
    fn cut(&self) {
        drop(self.live.lock().unwrap().take());
    }
}

impl Connector for Relayed {
    type Connection = QuicConnection;

    async fn connect(&self) -> Result<QuicConnection, TransportError> {
        let seed = self.seed.fetch_add(1, Ordering::Relaxed);
        let relay = udp_relay::start(self.server, self.loss, seed).await;
        let url = format!("https://127.0.0.1:{}/quicket", relay.addr.port());
        let connector = QuicConnector::new(url, ServerTrust::Hashes(self.hashes.clone()))
            .map_err(|err| TransportError::connect_from("a fresh endpoint", err))?;
        let connection = connector.connect().await?;
        *self.live.lock().unwrap() = Some((relay, connector));
        Ok(connection)
    }
}

async fn run(loss: f64, plan: DropPlan) -> RecoveryReport {
    let listener = common::listener().await;
    let quic = listener.handle();
    let relayed = Relayed {
        server: SocketAddr::from(([127, 0, 0, 1], quic.local_addr().port())),
        hashes: quic.certificate_hashes(),
        loss,
        seed: Arc::new(AtomicU64::new(0x5eed)),
        live: Arc::new(Mutex::new(None)),
    };
    let cut = relayed.clone();
    let report = sequence_survives_drops(
        quicket_core::Server::builder(),
        listener,
        relayed,
        plan,
        move |_socket| cut.cut(),
    )
    .await;
    let (median, max) = report.median_and_max();
    println!(
        "loss {loss}: {} reconnects, {} events down and {} up exact; recovery median {median:?}, max {max:?}",
        report.reconnects, report.down, report.up
    );
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_path_dropped_twenty_times_loses_and_duplicates_nothing() {
    assert_eq!(run(0.0, DropPlan::clean(20)).await.reconnects, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_percent_loss_with_forced_reconnects_keeps_the_sequence_exact() {
    // Under loss a heartbeat may also expire on its own; any extra drop is recovered too.
    assert!(run(0.05, DropPlan::lossy(5)).await.reconnects >= 5);
}
