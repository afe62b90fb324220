//! The per-socket rate limit on inbound events, on the in-memory transport in paused time: a
//! burst passes, the rest is dropped (acked events get an `AckError`) or disconnects, the
//! application hears of each, and the bucket refills with time.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::time::Duration;

use quicket_core::transport::memory::{self, MemoryConfig};
use quicket_core::{
    AckError, Client, ClientConfig, Data, DisconnectReason, RateExceeded, RateLimit, Server,
    ServerConfig, Socket,
};
use tokio::sync::mpsc;

/// What the server saw: an event handled (its number), or one over the limit.
#[derive(Debug, PartialEq)]
enum Seen {
    Handled(u32),
    Limited(String, RateExceeded),
}

fn server(exceeded: RateExceeded) -> (Server, mpsc::UnboundedReceiver<Seen>) {
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let limit = RateLimit::default()
        .events_per_second(10)
        .event_burst(5)
        .exceeded(exceeded);
    let config = ServerConfig::default().rate_limit(Some(limit));
    let limited = seen_tx.clone();
    let server = Server::builder()
        .config(config)
        .on_connect(move |socket: Socket| {
            let seen_tx = seen_tx.clone();
            async move {
                socket.on("count", move |Data(n): Data<u32>| {
                    let _ = seen_tx.send(Seen::Handled(n));
                    async {}
                });
            }
        })
        .on_rate_limited(move |_socket, event, outcome| {
            let _ = limited.send(Seen::Limited(event.to_owned(), outcome));
        })
        .build();
    (server, seen)
}

async fn client(server: &Server) -> Client {
    let (listener, connector) = memory::pipe(MemoryConfig::default());
    server.listen(listener);
    let config = ClientConfig::default().reconnect(None);
    Client::builder()
        .config(config)
        .connect(&connector)
        .await
        .unwrap()
}

async fn next(seen: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(Duration::from_secs(1), seen.recv())
        .await
        .expect("the server to see the event")
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn events_over_the_limit_are_dropped_and_reported_and_the_bucket_refills() {
    let (server, mut seen) = server(RateExceeded::Drop);
    let client = client(&server).await;
    for n in 0u32..8 {
        client.emit("count", n).unwrap();
    }
    for n in 0..5 {
        assert_eq!(next(&mut seen).await, Seen::Handled(n), "the burst of five");
    }
    for _ in 5..8 {
        let dropped = Seen::Limited("count".into(), RateExceeded::Drop);
        assert_eq!(next(&mut seen).await, dropped);
    }
    let refused: Result<(), AckError> = client.emit_with_ack("count", 99u32).await;
    assert!(
        matches!(&refused, Err(AckError::Remote(message)) if message.contains("rate limit")),
        "{refused:?}"
    );
    assert_eq!(
        next(&mut seen).await,
        Seen::Limited("count".into(), RateExceeded::Drop)
    );
    // Ten a second: after 300 ms, three more pass.
    tokio::time::advance(Duration::from_millis(300)).await;
    for n in 100u32..104 {
        client.emit("count", n).unwrap();
    }
    for n in 100..103 {
        assert_eq!(next(&mut seen).await, Seen::Handled(n));
    }
    assert_eq!(
        next(&mut seen).await,
        Seen::Limited("count".into(), RateExceeded::Drop)
    );
    assert!(client.connected(), "dropping never disconnects");
}

#[tokio::test(start_paused = true)]
async fn with_disconnect_the_first_event_over_the_limit_ends_the_socket_with_flooding() {
    let (server, mut seen) = server(RateExceeded::Disconnect);
    let client = client(&server).await;
    for n in 0u32..6 {
        client.emit("count", n).unwrap();
    }
    for n in 0..5 {
        assert_eq!(next(&mut seen).await, Seen::Handled(n));
    }
    assert_eq!(
        next(&mut seen).await,
        Seen::Limited("count".into(), RateExceeded::Disconnect)
    );
    let reason = tokio::time::timeout(Duration::from_secs(5), client.closed())
        .await
        .expect("the client is disconnected");
    assert_eq!(reason, DisconnectReason::Flooding);
}
