//! A peer whose events outrun its handlers: the server stops reading from it (by bytes, and a
//! budget shared by every connection), serves everyone else meanwhile, and disconnects it with
//! `Flooding` once reading has been held back with no handler finishing for `backlog_timeout`.
//! Paused time: the deadline is checked exactly, with no real waiting.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::time::Duration;

use bytes::Bytes;
use quicket_core::transport::memory::{self, MemoryConfig};
use quicket_core::{
    AckSender, Client, ClientConfig, ConnectionLimits, Data, DisconnectReason, Raw, Server,
    ServerConfig, Socket,
};
use tokio::time::Instant;

const STALL_LIMIT: Duration = Duration::from_secs(5);

fn server() -> Server {
    let limits = ConnectionLimits::default()
        .max_concurrent_handlers(1)
        .max_buffered_bytes(64 << 10)
        .backlog_timeout(STALL_LIMIT);
    let config = ServerConfig::default()
        .limits(limits)
        // Two of the flood's 16 KiB events spend the server's whole budget.
        .max_buffered_bytes_total(32 << 10);
    Server::builder()
        .config(config)
        .on_connect(|socket: Socket| async move {
            // Never finishes: the backlog behind it can only grow.
            socket.on("work", |_: Data<Raw>| std::future::pending::<()>());
            socket.on("ping", |ack: AckSender| async move {
                ack.send("pong").unwrap();
            });
        })
        .build()
}

async fn client(connector: &memory::MemoryConnector) -> Client {
    let config = ClientConfig::default().reconnect(None);
    Client::builder()
        .config(config)
        .connect(connector)
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_backlog_full_past_its_timeout_disconnects_the_flooder_alone() {
    let server = server();
    let (listener, connector) = memory::pipe(MemoryConfig::default());
    server.listen(listener);
    let flooder = client(&connector).await;
    let calm = client(&connector).await;
    let started = Instant::now();
    for _ in 0..100 {
        flooder
            .emit("work", Raw(Bytes::from(vec![7; 16 << 10])))
            .unwrap();
    }
    // While the flood waits, the other connection is served: its backlog is empty, so the
    // spent server budget does not stop it.
    let pong: String = tokio::time::timeout(Duration::from_secs(1), calm.emit_with_ack("ping", ()))
        .await
        .expect("the calm client is answered at once")
        .unwrap();
    assert_eq!(pong, "pong");
    let reason = tokio::time::timeout(STALL_LIMIT * 2, flooder.closed())
        .await
        .expect("the flooder is disconnected");
    assert_eq!(reason, DisconnectReason::Flooding);
    let stalled_for = started.elapsed();
    assert!(
        stalled_for >= STALL_LIMIT && stalled_for < STALL_LIMIT + Duration::from_secs(1),
        "disconnected after {stalled_for:?}, the limit is {STALL_LIMIT:?}"
    );
    assert!(calm.connected());
    let pong: String = calm.emit_with_ack("ping", ()).await.unwrap();
    assert_eq!(pong, "pong");
}
