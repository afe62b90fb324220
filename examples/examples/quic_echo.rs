//! A server and a native client over QUIC (WebTransport) on loopback: an event with an ack
//! each way, and a volatile datagram.
//!
//! Run it with `cargo run -p quicket-examples --example quic_echo`.

use std::time::Duration;

use quicket::quic::{QuicConnector, QuicListener, ServerIdentity, ServerTrust};
use quicket::{AckSender, Client, Data, Server, Socket};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

#[derive(Debug, Serialize, Deserialize)]
struct Position {
    x: f32,
    y: f32,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A self-signed development certificate; a browser would pin its hash.
    let listener = QuicListener::builder(ServerIdentity::dev())
        .bind("[::]:0".parse()?)
        .listen()
        .await?;
    let quic = listener.handle();
    println!(
        "server on {} (certificate sha-256 {})",
        quic.local_addr(),
        quic.certificate_hashes()[0]
    );

    let server = Server::builder()
        .on_connect(|socket: Socket| async move {
            println!(
                "server: {} connected over {}",
                socket.id(),
                socket.transport()
            );
            socket.on(
                "echo",
                |Data(text): Data<String>, ack: AckSender| async move {
                    ack.send(format!("echo: {text}")).ok();
                },
            );
            socket.on(
                "position",
                |socket: Socket, Data(at): Data<Position>| async move {
                    println!("server: volatile position {at:?}");
                    socket.volatile().emit("position-seen", at).ok();
                },
            );
        })
        .build();
    server.listen(listener);

    let url = format!("https://127.0.0.1:{}/quicket", quic.local_addr().port());
    let connector = QuicConnector::new(url, ServerTrust::Hashes(quic.certificate_hashes()))?;
    let (seen_tx, mut seen) = mpsc::channel(4);
    let client = Client::builder()
        .on("position-seen", move |Data(at): Data<Position>| {
            let _ = seen_tx.try_send(at);
            async {}
        })
        .connect(&connector)
        .await?;
    println!(
        "client: connected as {} over {}",
        client.id(),
        client.transport()
    );
    println!(
        "client: datagrams up to {:?} bytes",
        client.max_datagram_size()
    );

    let reply: String = client
        .emit_with_ack("echo", "hello over QUIC")
        .timeout(Duration::from_secs(5))
        .await?;
    println!("client: {reply}");

    // Datagrams may be lost; on loopback one of a few tries gets through.
    for attempt in 0..5u8 {
        client.volatile().emit(
            "position",
            Position {
                x: f32::from(attempt),
                y: 2.0,
            },
        )?;
        if let Ok(Some(at)) = tokio::time::timeout(Duration::from_millis(500), seen.recv()).await {
            println!("client: the server saw {at:?} as a datagram and echoed it");
            break;
        }
    }
    client.disconnect().await;
    server.shutdown(std::time::Duration::from_secs(5)).await;
    Ok(())
}
