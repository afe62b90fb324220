//! One server, two transports: QUIC and in-memory clients share rooms.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

mod common;

use common::{serve, within};
use quicket_core::transport::memory::{self, MemoryConfig};
use quicket_core::{AckSender, Client, Data, Server, Socket, TransportKind};
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_and_memory_clients_share_a_room() {
    // A client is connected once it has its Welcome, which comes before the connect
    // handler runs: the test waits for both sockets to be in the room.
    let (joined_tx, mut joined) = mpsc::unbounded_channel();
    let server = Server::builder()
        .on_connect(move |socket: Socket| {
            socket.join("room").unwrap();
            joined_tx.send(()).unwrap();
            socket.on(
                "say",
                |socket: Socket, Data(text): Data<String>, ack: AckSender| async move {
                    socket.to("room").emit("said", &text).unwrap();
                    ack.send(socket.transport().to_string()).unwrap();
                },
            );
            async {}
        })
        .build();
    let quic = serve(&server).await;
    let (listener, memory) = memory::pipe(MemoryConfig::default());
    server.listen(listener);

    let (tx, mut said) = mpsc::channel(16);
    let collect = |tag: &'static str| {
        let tx = tx.clone();
        move |Data(text): Data<String>| {
            tx.try_send((tag, text)).unwrap();
            async {}
        }
    };
    let native = within(
        "quic",
        Client::builder()
            .on("said", collect("quic"))
            .connect(&common::connector(&quic, "127.0.0.1")),
    )
    .await
    .unwrap();
    let embedded = within(
        "memory",
        Client::builder()
            .on("said", collect("memory"))
            .connect(&memory),
    )
    .await
    .unwrap();
    assert_eq!(native.transport(), TransportKind::WebTransport);
    assert_eq!(embedded.transport(), TransportKind::Memory);
    for _ in 0..2 {
        within("a socket in the room", joined.recv()).await.unwrap();
    }

    let via: String = within("ack", native.emit_with_ack("say", "from quic"))
        .await
        .unwrap();
    assert_eq!(via, "webtransport");
    assert_eq!(
        within("relay", said.recv()).await.unwrap(),
        ("memory", "from quic".to_owned())
    );
    let via: String = within("ack", embedded.emit_with_ack("say", "from memory"))
        .await
        .unwrap();
    assert_eq!(via, "memory");
    assert_eq!(
        within("relay", said.recv()).await.unwrap(),
        ("quic", "from memory".to_owned())
    );
    assert_eq!(server.to("room").emit("said", "everyone").unwrap(), 2);
    let mut got = vec![
        within("a", said.recv()).await.unwrap().0,
        within("b", said.recv()).await.unwrap().0,
    ];
    got.sort_unstable();
    assert_eq!(got, ["memory", "quic"]);
}
