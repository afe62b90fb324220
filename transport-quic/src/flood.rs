//! A flood of QUIC handshakes that never finish, for hardening tests and benchmarks: the
//! first Initial packet of many WebTransport connection attempts, captured so they can be
//! sent at once from several loopback source addresses to a server that must stay open to
//! everyone else.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::JoinSet;

/// The first Initial of `count` WebTransport connects that never hear back: each a fresh
/// connection attempt with its own connection id. Capturing them first keeps the cost of
/// building them (the client's key exchange) out of any measurement of the server.
pub async fn unfinished_initials(count: usize) -> io::Result<Vec<Vec<u8>>> {
    let capture = UdpSocket::bind("127.0.0.1:0").await?;
    let port = capture.local_addr()?.port();
    let config = wtransport::ClientConfig::builder()
        .with_bind_default()
        .with_no_cert_validation()
        .build();
    let endpoint = Arc::new(wtransport::Endpoint::client(config)?);
    let mut connects = JoinSet::new();
    for _ in 0..count {
        let endpoint = Arc::clone(&endpoint);
        let url = format!("https://127.0.0.1:{port}/quicket");
        connects.spawn(async move {
            let _never = endpoint.connect(url).await;
        });
    }
    let mut initials = Vec::with_capacity(count);
    let mut seen = HashSet::new();
    let mut buf = vec![0u8; 2048];
    let capturing = async {
        while initials.len() < count {
            let (len, from) = capture.recv_from(&mut buf).await?;
            // One per attempt: a retransmission repeats its first bytes from the same port.
            if seen.insert((from, buf[..len.min(64)].to_vec())) {
                initials.push(buf[..len].to_vec());
            }
        }
        Ok::<_, io::Error>(())
    };
    let captured = tokio::time::timeout(Duration::from_secs(60), capturing).await;
    connects.abort_all();
    match captured {
        Ok(result) => result.map(|()| initials),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the connects did not all send their Initial in time",
        )),
    }
}

/// Sends `initials` to `server`, spread over `sources` loopback addresses (127.0.0.10 and
/// up), and drops every reply until the returned tasks are aborted or dropped.
pub async fn send_unanswered(
    server: SocketAddr,
    initials: &[Vec<u8>],
    sources: u8,
) -> io::Result<JoinSet<()>> {
    let mut sinks = JoinSet::new();
    let mut sockets = Vec::new();
    for i in 0..sources.clamp(1, 200) {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 10 + i)), 0);
        let socket = Arc::new(UdpSocket::bind(addr).await?);
        let sink = Arc::clone(&socket);
        sinks.spawn(async move {
            let mut buf = vec![0u8; 2048];
            while sink.recv(&mut buf).await.is_ok() {}
        });
        sockets.push(socket);
    }
    for (initial, socket) in initials.iter().zip(sockets.iter().cycle()) {
        socket.send_to(initial, server).await?;
    }
    Ok(sinks)
}
