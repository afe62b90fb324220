//! `scale`: many concurrent connections on one node, half WebTransport (the load generator's
//! sessions sharing a few QUIC endpoints, as a fleet behind a few UDP sockets does) and half
//! WebSocket. They are held idle, then a publisher broadcasts to all of them once a second and
//! to each room of 100 ten times a second. The report gives the server's resident memory idle
//! and at the end, its CPU under load, and each kind of broadcast's deliveries, losses and
//! latency from the publisher's emit to a receiver's handler.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use quicket::{Client, Data, Raw};
use serde_json::json;
use tokio::sync::Semaphore;

use super::start_server;
use crate::cli::{Result, RunOptions, Transport};
use crate::echo::{SCALE_ALL, Target};
use crate::report::Report;
use crate::stats::Latencies;

const TABLE: &str = "Many connections on one node";

/// Members of each room.
const ROOM_SIZE: usize = 100;

/// Client QUIC endpoints the WebTransport sessions share.
const ENDPOINTS: usize = 4;

/// Connections being opened at once: under the server's per-address handshake caps.
const OPENING: usize = 24;

/// The first byte of a message: which kind of broadcast it is.
const TO_ALL: u8 = 0;
const TO_ROOM: u8 = 1;

/// What the receivers saw, by kind of broadcast.
struct Seen {
    epoch: Instant,
    received: [AtomicU64; 2],
    latencies: [Mutex<Latencies>; 2],
}

impl Seen {
    fn record(&self, message: &[u8]) {
        let (Some(&kind), Some(sent)) = (message.first(), message.get(1..9)) else {
            return;
        };
        let kind = usize::from(kind.min(1));
        let sent = u64::from_le_bytes(sent.try_into().unwrap_or_default());
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.received[kind].fetch_add(1, Ordering::Relaxed);
        self.latencies[kind]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(Duration::from_nanos(now.saturating_sub(sent)));
    }
}

pub(super) async fn run(options: &RunOptions, report: &mut Report) -> Result<()> {
    let (connections, seconds) = if options.quick {
        (200, 2)
    } else {
        (10_000, 10)
    };
    // A WebSocket is a descriptor on each side; the server inherits the raised limit.
    let files = crate::machine::raise_open_files();
    let server = start_server("quicket", report).await?;
    let targets = (0..ENDPOINTS)
        .map(|_| Target::remote(&server))
        .collect::<Result<Vec<_>>>()?;
    let idle_before = server.rss_bytes()?;
    let seen = Arc::new(Seen {
        epoch: Instant::now(),
        received: [AtomicU64::new(0), AtomicU64::new(0)],
        latencies: [Mutex::new(Latencies::new()), Mutex::new(Latencies::new())],
    });
    let opened = Instant::now();
    let clients = open_all(&targets, connections, &seen).await?;
    let opening = opened.elapsed();
    let idle = server.rss_bytes()?;
    let rooms = connections.div_ceil(ROOM_SIZE);
    let publisher = targets[0].connect(Transport::Ws, Client::builder()).await?;

    let cpu_before = server.cpu_time()?;
    let started = Instant::now();
    let mut sent = [0u64; 2];
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for round in 0..seconds * 10 {
        tick.tick().await;
        if round % 10 == 0 {
            publish(&publisher, &seen, TO_ALL, SCALE_ALL).await?;
            sent[0] += 1;
        }
        for room in 0..rooms {
            publish(&publisher, &seen, TO_ROOM, &room_name(room)).await?;
        }
        sent[1] += rooms as u64;
    }
    let expected = [sent[0] * connections as u64, sent[1] * ROOM_SIZE as u64];
    // The last messages are still on their way: wait until the counts stop moving.
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now: u64 = seen
            .received
            .iter()
            .map(|r| r.load(Ordering::Relaxed))
            .sum();
        if now == last || now >= expected.iter().sum() {
            break;
        }
        last = now;
    }
    let cpu = server.cpu_time()? - cpu_before;
    let loaded = server.rss_bytes()?;
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    for (kind, name) in [(0, "to all, 1 Hz"), (1, "to rooms of 100, 10 Hz")] {
        let summary = seen.latencies[kind]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .summary();
        let received = seen.received[kind].load(Ordering::Relaxed);
        report.row(
            "scale",
            TABLE,
            json!({
                "stack": "quicket webtransport + websocket",
                "connections": connections,
                "broadcast": name,
                "seconds": seconds,
                "deliveries": received,
                "lost": expected[kind].saturating_sub(received),
                "p50 ms": summary.p50_us / 1000.0,
                "p99 ms": summary.p99_us / 1000.0,
                "RSS idle MiB": mib(idle),
                "RSS over empty MiB": mib(idle.saturating_sub(idle_before)),
                "RSS under load MiB": mib(loaded),
                "server CPU %": cpu.as_secs_f64() / started.elapsed().as_secs_f64() * 100.0,
                "open s": opening.as_secs_f64(),
                "open files limit": files.map(|(_, after)| after),
            }),
        );
    }
    publisher.disconnect().await;
    drop(clients);
    server.stop().await;
    Ok(())
}

fn room_name(room: usize) -> String {
    format!("scale-{room}")
}

/// Opens `count` clients, every other one over WebTransport, each in the room of all and in
/// its room of [`ROOM_SIZE`].
async fn open_all(targets: &[Target], count: usize, seen: &Arc<Seen>) -> Result<Vec<Client>> {
    let gate = Arc::new(Semaphore::new(OPENING));
    let mut pending = FuturesUnordered::new();
    for index in 0..count {
        let (gate, seen) = (Arc::clone(&gate), Arc::clone(seen));
        let target = &targets[index % targets.len()];
        let transport = if index % 2 == 0 {
            Transport::Wt
        } else {
            Transport::Ws
        };
        pending.push(async move {
            let _permit = gate.acquire_owned().await;
            let builder = Client::builder().on("msg", move |Data(Raw(message)): Data<Raw>| {
                seen.record(&message);
                async {}
            });
            let client = target.connect(transport, builder).await?;
            let _: bool = client.emit_with_ack("join", SCALE_ALL).await?;
            let _: bool = client
                .emit_with_ack("join", room_name(index / ROOM_SIZE))
                .await?;
            Ok::<_, crate::cli::BoxError>(client)
        });
    }
    let mut clients = Vec::with_capacity(count);
    while let Some(client) = pending.next().await {
        clients.push(client?);
    }
    Ok(clients)
}

/// Asks the server to broadcast a stamped message of `kind` to `room`.
async fn publish(publisher: &Client, seen: &Seen, kind: u8, room: &str) -> Result<()> {
    let stamp = u64::try_from(seen.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let mut message = vec![kind];
    message.extend_from_slice(&stamp.to_le_bytes());
    message.extend_from_slice(&[0; 23]);
    publisher.emit("publish-to", (room, message))?;
    Ok(())
}
