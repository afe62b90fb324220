//! `fanout`: one publisher and N receivers in one room, each a real client connection.
//!
//! - fixed rate, open loop: messages go out on a schedule, and latency counts from the
//!   scheduled time, so a stalled sender cannot hide its stall (coordinated omission);
//! - saturation, closed loop: at most a window of messages not yet delivered to everyone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use quicket::{Client, Data, Raw};
use serde_json::json;
use tokio::sync::Notify;

use super::quicket_server;
use crate::cli::{Result, RunOptions, Transport};
use crate::echo::{ROOM, Target};
use crate::peers::{self, Peer};
use crate::process::ServerProcess;
use crate::report::Report;
use crate::stats::Latencies;

/// How a fan-out run is sized.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    receivers: usize,
    duration: Duration,
    /// Deliveries per second offered in fixed-rate mode.
    offered: u64,
    /// Messages not yet delivered to every receiver, in saturation mode.
    window: u64,
}

impl Plan {
    /// The cross-node run: 10,000 deliveries/s offered to 99 receivers (9 when quick).
    pub(super) fn cluster(quick: bool) -> Self {
        Plan {
            receivers: if quick { 9 } else { 99 },
            duration: Duration::from_millis(if quick { 500 } else { 2_000 }),
            offered: 10_000,
            window: 32,
        }
    }

    /// A round of the metrics scenario: the fan-out scenario's fixed rate to `receivers`, for
    /// half a second (quick) or a second.
    pub(super) fn metrics(receivers: usize, quick: bool) -> Self {
        Plan {
            receivers,
            duration: Duration::from_millis(if quick { 500 } else { 1_000 }),
            offered: 20_000,
            window: 32,
        }
    }

    /// The loss scenario's fixed-rate run: 10,000 deliveries/s to 100 receivers (20 when
    /// quick), 100 messages a second.
    pub(super) fn lossy(quick: bool) -> Self {
        Plan {
            receivers: if quick { 20 } else { 100 },
            duration: Duration::from_millis(if quick { 500 } else { 3_000 }),
            offered: if quick { 2_000 } else { 10_000 },
            window: 32,
        }
    }
}

pub(super) async fn run(options: &RunOptions, report: &mut Report) -> Result<()> {
    let sizes: &[usize] = if options.quick { &[20] } else { &[100, 1_000] };
    let duration = Duration::from_millis(if options.quick { 500 } else { 2_000 });
    for &receivers in sizes {
        let plan = Plan {
            receivers,
            duration,
            offered: 20_000,
            window: 32,
        };
        for &transport in &options.transports {
            if transport == Transport::WtDgram {
                continue; // Fan-out of reliable events; datagram fan-out is in `loss`.
            }
            let (server, target) = quicket_server(transport, report).await?;
            for saturate in [false, true] {
                let servers: Vec<&ServerProcess> = server.iter().collect();
                let row = quicket_run(
                    std::slice::from_ref(&target),
                    &servers,
                    transport,
                    plan,
                    saturate,
                )
                .await?;
                report.row("fanout", "Fan-out to one room", row);
            }
            if let Some(server) = server {
                server.stop().await;
            }
        }
        if options.transports.iter().any(|t| *t != Transport::Mem) {
            for peer in Peer::ALL {
                for saturate in [false, true] {
                    match peer_run(peer, report, plan, saturate).await {
                        Ok(row) => report.row("fanout", "Fan-out to one room", row),
                        Err(err) => report.skip(
                            &format!("{} fan-out N={receivers}", peer.name()),
                            &err.to_string(),
                        ),
                    }
                }
            }
        }
    }
    Ok(())
}

/// What the receivers saw: every delivery, and per message its first and last.
#[derive(Default)]
struct Deliveries {
    all: Option<Latencies>,
    first: Option<Latencies>,
    last: Option<Latencies>,
    /// Deliveries so far per message.
    pending: HashMap<u64, usize>,
    delivered: u64,
    complete: u64,
}

struct Shared {
    epoch: Instant,
    receivers: usize,
    deliveries: Mutex<Deliveries>,
    progress: Notify,
}

impl Shared {
    fn deliver(&self, payload: &[u8]) {
        let (Some(seq), Some(sent)) = (word(payload, 0), word(payload, 1)) else {
            return;
        };
        let latency = self
            .epoch
            .elapsed()
            .saturating_sub(Duration::from_nanos(sent));
        let mut d = self
            .deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        d.delivered += 1;
        d.all.get_or_insert_with(Latencies::new).record(latency);
        let count = d.pending.entry(seq).or_insert(0);
        *count += 1;
        let count = *count;
        if count == 1 {
            d.first.get_or_insert_with(Latencies::new).record(latency);
        }
        if count == self.receivers {
            d.pending.remove(&seq);
            d.last.get_or_insert_with(Latencies::new).record(latency);
            d.complete += 1;
            drop(d);
            self.progress.notify_one();
        }
    }
}

/// The `index`th little-endian u64 of a payload, if it is that long.
pub(super) fn word(payload: &[u8], index: usize) -> Option<u64> {
    payload
        .get(index * 8..index * 8 + 8)
        .and_then(|bytes| bytes.try_into().ok())
        .map(u64::from_le_bytes)
}

/// One fan-out run: the receivers spread over `targets` in turn, the publisher on the
/// first; `servers` are the processes whose CPU it costs.
pub(super) async fn quicket_run(
    targets: &[Target],
    servers: &[&ServerProcess],
    transport: Transport,
    plan: Plan,
    saturate: bool,
) -> Result<serde_json::Value> {
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        receivers: plan.receivers,
        deliveries: Mutex::default(),
        progress: Notify::new(),
    });
    let mut receivers = Vec::with_capacity(plan.receivers);
    for (_, target) in (0..plan.receivers).zip(targets.iter().cycle()) {
        let shared = Arc::clone(&shared);
        let builder = Client::builder().on("msg", move |Data(Raw(payload)): Data<Raw>| {
            shared.deliver(&payload);
            async {}
        });
        let client = target.connect(transport, builder).await?;
        let _joined: bool = client.emit_with_ack("join", ROOM).await?;
        receivers.push(client);
    }
    let publisher = targets
        .first()
        .ok_or("a fan-out needs a target")?
        .connect(transport, Client::builder())
        .await?;
    let payload = |seq: u64, at: Duration| {
        let mut bytes = vec![0u8; 32];
        bytes[..8].copy_from_slice(&seq.to_le_bytes());
        bytes[8..16].copy_from_slice(
            &u64::try_from(at.as_nanos())
                .unwrap_or(u64::MAX)
                .to_le_bytes(),
        );
        Raw(bytes.into())
    };
    let cpu_of = |servers: &[&ServerProcess]| -> Result<Option<Duration>> {
        if servers.is_empty() {
            return Ok(None);
        }
        let mut total = Duration::ZERO;
        for server in servers {
            total += server.cpu_time()?;
        }
        Ok(Some(total))
    };
    let cpu_before = cpu_of(servers)?;
    let started = shared.epoch.elapsed();
    let mut sent = 0u64;
    let rate = (plan.offered / plan.receivers as u64).max(1);
    while shared.epoch.elapsed() - started < plan.duration {
        if saturate {
            let complete = shared
                .deliveries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .complete;
            if sent - complete >= plan.window {
                let _ = tokio::time::timeout(Duration::from_millis(50), shared.progress.notified())
                    .await;
                continue;
            }
            publisher.emit("publish", payload(sent, shared.epoch.elapsed()))?;
        } else {
            let due = started + Duration::from_nanos(sent * 1_000_000_000 / rate);
            // The timer wheel ticks in milliseconds: sleep until just before the due time,
            // then yield until it, or the send would be late by up to a tick.
            let early = due.saturating_sub(Duration::from_millis(1));
            if early > shared.epoch.elapsed() {
                tokio::time::sleep(early - shared.epoch.elapsed()).await;
            }
            while shared.epoch.elapsed() < due {
                tokio::task::yield_now().await;
            }
            publisher.emit("publish", payload(sent, due))?;
        }
        sent += 1;
    }
    let elapsed = shared.epoch.elapsed() - started;
    // Bounded wait for the stragglers.
    let expected = sent * plan.receivers as u64;
    let drain = Instant::now();
    while shared
        .deliveries
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .delivered
        < expected
        && drain.elapsed() < Duration::from_secs(5)
    {
        let _ = tokio::time::timeout(Duration::from_millis(50), shared.progress.notified()).await;
    }
    let cpu = match (cpu_of(servers)?, cpu_before) {
        (Some(after), Some(before)) => Some(after - before),
        _ => None,
    };
    publisher.disconnect().await;
    for client in receivers {
        client.disconnect().await;
    }
    let d = shared
        .deliveries
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    Ok(fanout_row(
        &format!("quicket {}", transport.name()),
        plan,
        saturate,
        sent,
        d.delivered,
        elapsed,
        cpu,
        [&d.all, &d.first, &d.last],
    ))
}

#[allow(clippy::too_many_arguments)]
fn fanout_row(
    stack: &str,
    plan: Plan,
    saturate: bool,
    sent: u64,
    delivered: u64,
    elapsed: Duration,
    cpu: Option<Duration>,
    [all, first, last]: [&Option<Latencies>; 3],
) -> serde_json::Value {
    let p = |l: &Option<Latencies>, q: fn(&crate::stats::Summary) -> f64| {
        l.as_ref().map(|l| q(&l.summary()))
    };
    let expected = sent * plan.receivers as u64;
    json!({
        "stack": stack,
        "N": plan.receivers,
        "mode": if saturate { "saturation" } else { "fixed rate" },
        "deliveries/s": delivered as f64 / elapsed.as_secs_f64(),
        "lost": expected.saturating_sub(delivered),
        "p50 ms": p(all, |s| s.p50_us / 1000.0),
        "p99 ms": p(all, |s| s.p99_us / 1000.0),
        "max ms": p(all, |s| s.max_us / 1000.0),
        "first p50 ms": p(first, |s| s.p50_us / 1000.0),
        "last p50 ms": p(last, |s| s.p50_us / 1000.0),
        "last p99 ms": p(last, |s| s.p99_us / 1000.0),
        "server CPU µs/delivery": cpu.map(|cpu| cpu.as_secs_f64() * 1e6 / delivered.max(1) as f64),
    })
}

async fn peer_run(
    peer: Peer,
    report: &Report,
    plan: Plan,
    saturate: bool,
) -> Result<serde_json::Value> {
    let server = peer.start(report).await?;
    let mode = if saturate { "saturation" } else { "fixed" };
    let rate = (plan.offered / plan.receivers as u64).max(1);
    let args = [
        "fanout".to_owned(),
        "--receivers".to_owned(),
        plan.receivers.to_string(),
        "--mode".to_owned(),
        mode.to_owned(),
        "--rate".to_owned(),
        rate.to_string(),
        "--duration-ms".to_owned(),
        plan.duration.as_millis().to_string(),
        "--window".to_owned(),
        plan.window.to_string(),
        "--payload".to_owned(),
        "32".to_owned(),
    ];
    let before = server.cpu_time()?;
    let lines = peers::drive(&server, &args, Duration::from_secs(300)).await?;
    let cpu = server.cpu_time()? - before;
    server.stop().await;
    let r = lines.first().ok_or("the driver printed nothing")?;
    let ms = |key: &str| r[key].as_f64().map(|us| us / 1000.0);
    let delivered = r["deliveries_received"].as_f64().unwrap_or(0.0);
    Ok(json!({
        "stack": peer.name(),
        "N": plan.receivers,
        "mode": if saturate { "saturation" } else { "fixed rate" },
        "deliveries/s": r["delivered_per_s"].as_f64(),
        "lost": r["loss"].as_f64(),
        "p50 ms": ms("p50_us"),
        "p99 ms": ms("p99_us"),
        "max ms": ms("max_us"),
        "first p50 ms": ms("first_p50_us"),
        "last p50 ms": ms("last_p50_us"),
        "last p99 ms": ms("last_p99_us"),
        // Setup (connections, joins) is in this CPU time too; it is small against the run.
        "server CPU µs/delivery": cpu.as_secs_f64() * 1e6 / delivered.max(1.0),
    }))
}
