//! Connection state recovery over WebSocket when the TCP connection is reset: each connection
//! goes through its own TCP proxy, and a cut resets both of the proxy's sockets (RST, not FIN),
//! as a NAT that forgets the connection or a crashed middlebox would.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use quicket_core::testkit::{DropPlan, sequence_survives_drops};
use quicket_core::transport::{Connector, Listener, TransportError};
use quicket_ws::{WsClientConnection, WsConfig, WsConnector};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Dials each connection through a fresh proxy that can reset it.
#[derive(Clone)]
struct Proxied {
    upstream: SocketAddr,
    reset: Arc<Mutex<Option<oneshot::Sender<()>>>>,
}

impl Proxied {
    /// Resets the current connection on both sides.
    fn cut(&self) {
        if let Some(reset) = self.reset.lock().unwrap().take() {
            let _ = reset.send(());
        }
    }
}

impl Connector for Proxied {
    type Connection = WsClientConnection;

    async fn connect(&self) -> Result<WsClientConnection, TransportError> {
        let front = TcpListener::bind("127.0.0.1:0").await?;
        let addr = front.local_addr()?;
        let (reset_tx, reset) = oneshot::channel();
        let upstream = self.upstream;
        tokio::spawn(async move {
            let Ok((mut client, _)) = front.accept().await else {
                return;
            };
            let Ok(mut server) = TcpStream::connect(upstream).await else {
                return;
            };
            let reset = tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
                _ = reset => true,
            };
            if reset {
                // A zero linger makes the close an RST.
                let _ = client.set_zero_linger();
                let _ = server.set_zero_linger();
            }
        });
        let connection = WsConnector::new(format!("ws://{addr}/quicket"))
            .connect()
            .await?;
        *self.reset.lock().unwrap() = Some(reset_tx);
        Ok(connection)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_reset_twenty_times_loses_and_duplicates_nothing() {
    let listener = quicket_ws::bind("127.0.0.1:0".parse().unwrap(), WsConfig::default())
        .await
        .unwrap();
    let proxied = Proxied {
        upstream: listener.local_addr().unwrap(),
        reset: Arc::new(Mutex::new(None)),
    };
    let cut = proxied.clone();
    let report = sequence_survives_drops(
        quicket_core::Server::builder(),
        listener,
        proxied,
        DropPlan::clean(20),
        move |_socket| {
            cut.cut();
        },
    )
    .await;
    let (median, max) = report.median_and_max();
    println!(
        "tcp reset: {} reconnects, {} events down and {} up exact; recovery median {median:?}, max {max:?}",
        report.reconnects, report.down, report.up
    );
    assert_eq!(report.reconnects, 20);
}
