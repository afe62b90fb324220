//! `connect`: time to a ready session (handshake done, `Welcome` in), and sessions per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use quicket::Client;
use serde_json::json;
use tokio::sync::Semaphore;

use super::quicket_server;
use crate::cli::{Result, RunOptions, Transport};
use crate::echo::Target;
use crate::peers::{self, Peer};
use crate::report::Report;
use crate::stats::Latencies;

/// Handshakes in flight at once.
const CONCURRENCY: usize = 16;

pub(super) async fn run(options: &RunOptions, report: &mut Report) -> Result<()> {
    let count = if options.quick { 50 } else { 1_000 };
    for &transport in &options.transports {
        if transport == Transport::WtDgram {
            continue; // The same handshake as the stream.
        }
        let (server, target) = quicket_server(transport, report).await?;
        let cpu_before = server.as_ref().map(|s| s.cpu_time()).transpose()?;
        let (latencies, elapsed, clients) = open(&target, transport, count).await?;
        let cpu = match (&server, cpu_before) {
            (Some(server), Some(before)) => {
                Some((server.cpu_time()? - before).as_secs_f64() * 1e6 / count as f64)
            }
            _ => None,
        };
        for client in clients {
            client.disconnect().await;
        }
        let s = latencies.summary();
        report.row(
            "connect",
            "Connect: time to a ready session",
            json!({
                "stack": format!("quicket {}", transport.name()),
                "sessions": count,
                "p50 ms": s.p50_us / 1000.0,
                "p99 ms": s.p99_us / 1000.0,
                "sessions/s": count as f64 / elapsed.as_secs_f64(),
                "server CPU µs/session": cpu,
            }),
        );
        if let Some(server) = server {
            server.stop().await;
        }
    }
    if options.transports.iter().any(|t| *t != Transport::Mem) {
        for peer in Peer::ALL {
            match peer_connect(peer, report, count).await {
                Ok(row) => report.row("connect", "Connect: time to a ready session", row),
                Err(err) => report.skip(&format!("{} connect", peer.name()), &err.to_string()),
            }
        }
    }
    Ok(())
}

/// Opens `count` sessions, `CONCURRENCY` at a time; returns them with their connect times.
pub(super) async fn open(
    target: &Target,
    transport: Transport,
    count: usize,
) -> Result<(Latencies, Duration, Vec<Client>)> {
    let gate = Arc::new(Semaphore::new(CONCURRENCY));
    let started = Instant::now();
    let mut pending = FuturesUnordered::new();
    for _ in 0..count {
        let gate = Arc::clone(&gate);
        pending.push(async move {
            let _permit = gate.acquire_owned().await;
            let begun = Instant::now();
            let client = target.connect(transport, Client::builder()).await?;
            Ok::<_, crate::cli::BoxError>((begun.elapsed(), client))
        });
    }
    let mut latencies = Latencies::new();
    let mut clients = Vec::with_capacity(count);
    while let Some(result) = pending.next().await {
        let (took, client) = result?;
        latencies.record(took);
        clients.push(client);
    }
    Ok((latencies, started.elapsed(), clients))
}

async fn peer_connect(peer: Peer, report: &Report, count: usize) -> Result<serde_json::Value> {
    let server = peer.start(report).await?;
    let args = [
        "connect",
        "--count",
        &count.to_string(),
        "--concurrency",
        &CONCURRENCY.to_string(),
    ]
    .map(str::to_owned);
    let before = server.cpu_time()?;
    let lines = peers::drive(&server, &args, Duration::from_secs(300)).await?;
    let cpu = server.cpu_time()? - before;
    server.stop().await;
    let r = lines.first().ok_or("the driver printed nothing")?;
    Ok(json!({
        "stack": peer.name(),
        "sessions": count,
        "p50 ms": r["p50_us"].as_f64().map(|us| us / 1000.0),
        "p99 ms": r["p99_us"].as_f64().map(|us| us / 1000.0),
        "sessions/s": r["connections_per_s"].as_f64(),
        "server CPU µs/session": cpu.as_secs_f64() * 1e6 / count as f64,
    }))
}
