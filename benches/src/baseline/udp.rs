//! tokio UDP echo.

use std::time::Instant;

use serde_json::json;
use tokio::net::UdpSocket;

use super::{PAYLOAD, Sampler};
use crate::cli::Result;
use crate::process::ServerProcess;

pub(super) async fn serve() -> Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    println!("ready {}", json!({ "udp": socket.local_addr()?.port() }));
    let mut buffer = [0u8; 2048];
    loop {
        let (len, from) = socket.recv_from(&mut buffer).await?;
        socket.send_to(&buffer[..len], from).await?;
    }
}

pub(super) async fn round_trips(server: &ServerProcess, sampler: &mut Sampler) -> Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    socket.connect(("127.0.0.1", server.port("udp")?)).await?;
    let mut payload = [7u8; PAYLOAD];
    let mut reply = [0u8; 2048];
    let mut seq = 0u64;
    while sampler.more() {
        seq += 1;
        payload[..8].copy_from_slice(&seq.to_le_bytes());
        let started = Instant::now();
        socket.send(&payload).await?;
        // Only this round trip's reply ends it; a late one from a lost round is skipped.
        let answer = async {
            loop {
                let len = socket.recv(&mut reply).await?;
                if len >= 8 && reply[..8] == seq.to_le_bytes() {
                    return Ok::<_, std::io::Error>(());
                }
            }
        };
        sampler.datagram(started, answer).await?;
    }
    Ok(())
}
