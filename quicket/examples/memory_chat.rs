//! A chat room on the embedded defaults: an in-memory transport and in-memory rooms.
//!
//! Three clients join, see each other in the presence list, chat with acknowledgements, and
//! leave. Run it with `cargo run -p quicket --example memory_chat`.

use std::time::Duration;

use quicket::transport::memory::{self, MemoryConfig};
use quicket::{AckSender, Client, Data, PresenceEvent, Rejection, Server, Socket};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Line {
    from: String,
    text: String,
}

#[derive(Clone)]
struct Name(String);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::builder()
        .auth(|handshake| async move {
            let name: String = handshake
                .auth()
                .map_err(|_| Rejection::new("send your name as auth"))?;
            if name.trim().is_empty() {
                return Err(Rejection::new("empty name"));
            }
            handshake.extensions().insert(Name(name));
            Ok(())
        })
        .on_connect(|socket: Socket| async move {
            let Some(Name(name)) = socket.extensions().get::<Name>() else {
                return;
            };
            socket.join("chat").ok();
            socket.presence("chat").track(&name, "online").ok();
            socket.on(
                "say",
                move |socket: Socket, Data(text): Data<String>, ack: AckSender| {
                    let from = name.clone();
                    async move {
                        socket.to("chat").emit("line", Line { from, text }).ok();
                        ack.send("delivered").ok();
                    }
                },
            );
        })
        .build();
    let (listener, connector) = memory::pipe(MemoryConfig::default());
    server.listen(listener);

    let mut clients = Vec::new();
    for name in ["ada", "grace", "linus"] {
        let client = Client::builder()
            .auth(name)
            .on("line", move |Data(line): Data<Line>| async move {
                println!("[{name:>5}] {}: {}", line.from, line.text);
            })
            .connect(&connector)
            .await?;
        clients.push((name, client));
    }

    let (_, ada) = &clients[0];
    let mut presence = ada.subscribe_presence("chat")?;
    if let Some(PresenceEvent::Sync) = presence.next().await {
        let online: Vec<_> = presence.state().keys().map(str::to_owned).collect();
        println!("online: {}", online.join(", "));
    }

    for (name, client) in &clients {
        let status: String = client
            .emit_with_ack("say", format!("hello from {name}"))
            .timeout(Duration::from_secs(2))
            .await?;
        println!("{name}'s line: {status}");
    }

    for (name, client) in clients.iter().skip(1) {
        client.disconnect().await;
        while let Some(event) = presence.next().await {
            if let PresenceEvent::Leave {
                key, last: true, ..
            } = event
            {
                println!("{key} left");
                break;
            }
        }
        assert!(!presence.state().contains(name));
    }
    println!(
        "still online: {:?}",
        presence.state().keys().collect::<Vec<_>>()
    );
    server.shutdown(std::time::Duration::from_secs(5)).await;
    Ok(())
}
