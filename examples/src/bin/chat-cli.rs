//! A terminal client for the chat: `cargo run -p quicket-examples --bin chat-cli -- --name bob`.
//! Lines typed are sent; lines, announcements and the user list are printed.
//! Flags: `--name NAME`, `--url http://127.0.0.1:8080`.

use quicket::{Client, Data, PresenceEvent};
use quicket_examples::chat::{Joined, Line, ROOM};
use quicket_examples::web::Flags;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (name, url) = args();
    let builder = Client::builder()
        .on("line", |Data(line): Data<Line>| async move {
            println!("{}: {}", line.from, line.text);
        })
        .on("announce", |Data(text): Data<String>| async move {
            println!("* {text}");
        });
    let client = quicket::connect_with(builder, &url, &quicket::FallbackOptions::default()).await?;
    let joined: Joined = client.emit_with_ack("join", &name).await?;
    println!(
        "joined {} as {name} over {}",
        joined.room,
        client.transport()
    );
    let mut presence = client.subscribe_presence(ROOM)?;
    tokio::spawn(async move {
        while let Some(event) = presence.next().await {
            if matches!(
                event,
                PresenceEvent::Sync
                    | PresenceEvent::Join { first: true, .. }
                    | PresenceEvent::Leave { last: true, .. }
            ) {
                let users: Vec<String> = presence.state().keys().map(str::to_owned).collect();
                println!("users: {}", users.join(", "));
            }
        }
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if !line.trim().is_empty() {
            client.emit_with_ack::<()>("say", line).await?;
        }
    }
    client.disconnect().await;
    Ok(())
}

fn args() -> (String, String) {
    let mut flags = Flags::from_env("chat-cli", "[--name NAME] [--url http://HOST:PORT]");
    let name = flags.value("--name", "cli".to_owned());
    let url = flags.value("--url", "http://127.0.0.1:8080".to_owned());
    flags.finish();
    (name, url)
}
