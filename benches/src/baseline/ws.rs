//! tokio-tungstenite echo of binary messages.

use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use super::{PAYLOAD, Sampler};
use crate::cli::Result;
use crate::process::ServerProcess;

pub(super) async fn serve() -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("ready {}", json!({ "ws": listener.local_addr()?.port() }));
    loop {
        let (tcp, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                return;
            };
            while let Some(Ok(message)) = ws.next().await {
                if message.is_binary() && ws.send(message).await.is_err() {
                    return;
                }
            }
        });
    }
}

pub(super) async fn round_trips(server: &ServerProcess, sampler: &mut Sampler) -> Result<()> {
    let url = format!("ws://127.0.0.1:{}/", server.port("ws")?);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    let payload = bytes::Bytes::from_static(&[7u8; PAYLOAD]);
    while sampler.more() {
        let started = Instant::now();
        ws.send(Message::Binary(payload.clone())).await?;
        match ws.next().await {
            Some(Ok(_)) => sampler.record(started),
            _ => return Err("the echo server closed".into()),
        }
    }
    Ok(())
}
