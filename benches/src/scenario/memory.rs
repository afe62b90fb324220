//! `memory`: the server's resident memory with idle connections, per connection.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use super::connect::open;
use super::start_server;
use crate::cli::{Result, RunOptions, Transport};
use crate::echo::Target;
use crate::peers::{Peer, peers_dir};
use crate::process::ServerProcess;
use crate::report::Report;

pub(super) async fn run(options: &RunOptions, report: &mut Report) -> Result<()> {
    let sizes: &[usize] = if options.quick {
        &[100]
    } else {
        &[1_000, 5_000]
    };
    for &transport in &options.transports {
        if matches!(transport, Transport::WtDgram | Transport::Mem) {
            continue; // The same sessions as the stream; memory has no server process.
        }
        for &count in sizes {
            let server = start_server("quicket", report).await?;
            let target = Target::remote(&server)?;
            let idle = server.rss_bytes()?;
            let (_, _, clients) = open(&target, transport, count).await?;
            let loaded = server.rss_bytes()?;
            report.row(
                "memory",
                "Server memory with idle connections",
                row(
                    &format!("quicket {}", transport.name()),
                    count,
                    idle,
                    loaded,
                ),
            );
            for client in clients {
                client.disconnect().await;
            }
            server.stop().await;
        }
    }
    if options.transports.iter().any(|t| *t != Transport::Mem) {
        for peer in Peer::ALL {
            for &count in sizes {
                match peer_memory(peer, report, count).await {
                    Ok(value) => report.row("memory", "Server memory with idle connections", value),
                    Err(err) => report.skip(
                        &format!("{} memory @{count}", peer.name()),
                        &err.to_string(),
                    ),
                }
            }
        }
    }
    Ok(())
}

fn row(stack: &str, count: usize, idle: u64, loaded: u64) -> serde_json::Value {
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    json!({
        "stack": stack,
        "connections": count,
        "RSS idle MiB": mib(idle),
        "RSS loaded MiB": mib(loaded),
        "KiB per connection": loaded.saturating_sub(idle) as f64 / 1024.0 / count as f64,
    })
}

/// Holds `count` idle socket.io-client connections open while the peer's RSS is read.
async fn peer_memory(peer: Peer, report: &Report, count: usize) -> Result<serde_json::Value> {
    let server: ServerProcess = peer.start(report).await?;
    let idle = server.rss_bytes()?;
    let url = format!("http://127.0.0.1:{}", server.port("port")?);
    let mut driver = Command::new("node")
        .arg(peers_dir().join("driver.mjs"))
        .args(["idle", "--count", &count.to_string(), "--url", &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = driver.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await? {
            if line.contains("\"ready\":true") {
                return Ok::<_, std::io::Error>(true);
            }
        }
        Ok(false)
    })
    .await
    .map_err(|_| "the idle driver was not ready within 120 s")??;
    if !ready {
        return Err("the idle driver exited early".into());
    }
    let loaded = server.rss_bytes()?;
    let _ = driver.kill().await;
    server.stop().await;
    Ok(row(peer.name(), count, idle, loaded))
}
