//! The `State` extractor: what the server builder set reaches every handler without captured
//! clones, one value per type, and a handler asking for a type never set is refused with an
//! ack error naming it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use quicket_core::transport::memory::{self, MemoryConfig};
use quicket_core::{AckError, AckSender, Client, Data, Server, Socket, State};

#[derive(Clone, Default)]
struct Hits(Arc<AtomicU64>);

#[derive(Clone)]
struct Greeting(&'static str);

#[derive(Clone)]
struct NeverSet;

fn server(hits: Hits) -> Server {
    Server::builder()
        .state(hits)
        .state(Greeting("hi"))
        .state(Greeting("hello"))
        .on_connect(|socket: Socket| async move {
            assert!(socket.state::<Greeting>().is_some(), "on_connect sees it too");
            socket.on(
                "hit",
                |State(hits): State<Hits>, State(greeting): State<Greeting>, ack: AckSender| async move {
                    let n = hits.0.fetch_add(1, Ordering::Relaxed) + 1;
                    let _ = ack.send(format!("{} #{n}", greeting.0));
                },
            );
            socket.on(
                "broken",
                |State(_never): State<NeverSet>, Data(_n): Data<u32>, ack: AckSender| async move {
                    let _ = ack.send("ran");
                },
            );
        })
        .build()
}

#[tokio::test]
async fn handlers_get_the_builders_state() {
    let hits = Hits::default();
    let server = server(hits.clone());
    let (listener, connector) = memory::pipe(MemoryConfig::default());
    server.listen(listener);
    let client = tokio::time::timeout(
        Duration::from_secs(10),
        Client::builder().connect(&connector),
    )
    .await
    .unwrap()
    .unwrap();
    for n in 1..=3 {
        let reply: String = client.emit_with_ack("hit", ()).await.unwrap();
        assert_eq!(
            reply,
            format!("hello #{n}"),
            "the later value of a type replaces the first"
        );
    }
    assert_eq!(
        hits.0.load(Ordering::Relaxed),
        3,
        "the same state the test holds"
    );
    let refused = client.emit_with_ack::<String>("broken", 1u32).await;
    match refused {
        Err(AckError::Remote(message)) => {
            assert!(message.contains("no server state of type"), "{message}");
            assert!(message.contains("NeverSet"), "{message}");
        }
        other => panic!("expected the ack error, got {other:?}"),
    }
    client.disconnect().await;
}

#[tokio::test]
async fn the_server_fetches_and_asks_every_socket_as_socketio_does() {
    let server = Server::builder().build();
    let (listener, connector) = memory::pipe(MemoryConfig::default());
    server.listen(listener);
    let mut ids = Vec::new();
    let mut clients = Vec::new();
    for n in 0..2u32 {
        let client = Client::builder()
            .on("count", move |ack: AckSender| async move {
                let _ = ack.send(n);
            })
            .connect(&connector);
        let client = tokio::time::timeout(Duration::from_secs(10), client)
            .await
            .unwrap()
            .unwrap();
        ids.push(client.id());
        clients.push(client);
    }
    let mut fetched: Vec<_> = server.fetch_sockets().await.iter().map(|s| s.id).collect();
    fetched.sort();
    ids.sort();
    assert_eq!(fetched, ids, "io.fetchSockets()");
    let asking = server
        .timeout(Duration::from_secs(5))
        .emit_with_ack::<u32, _>("count", ());
    let replies = tokio::time::timeout(Duration::from_secs(10), asking)
        .await
        .unwrap()
        .unwrap();
    let mut answers: Vec<u32> = replies
        .into_iter()
        .map(|(_, reply)| reply.unwrap())
        .collect();
    answers.sort_unstable();
    assert_eq!(answers, [0, 1], "io.timeout(ms).emitWithAck()");
}
