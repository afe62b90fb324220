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

    /// A round of the metrics scenario: the fan-out scenario's fixed rate to `receivers`, half
    /// a second (quick) or a second of messages for each server.
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
    let stage = Stage::gather(targets, transport, plan.receivers).await?;
    let cpu_before = cpu_of(servers)?;
    let started = stage.shared.epoch.elapsed();
    let sent = if saturate {
        let shared = &stage.shared;
        let mut sent = 0u64;
        while shared.epoch.elapsed() - started < plan.duration {
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
            stage.publish(sent, shared.epoch.elapsed())?;
            sent += 1;
        }
        sent
    } else {
        let rate = (plan.offered / plan.receivers as u64).max(1);
        publish_in_turn(std::slice::from_ref(&stage), rate, plan.duration).await?[0]
    };
    let elapsed = stage.shared.epoch.elapsed() - started;
    stage.drain(sent).await;
    let cpu = cpu_of(servers)?
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let stack = format!("quicket {}", transport.name());
    Ok(stage
        .finish(&stack, plan, saturate, sent, elapsed, cpu)
        .await)
}

/// Fixed-rate fan-outs to a room on each of `servers` at once, taking turns: message `k`
/// goes to server `k mod n`, at the plan's rate in all. Each server's messages then lie side
/// by side in time with the others', so a slow spell of the shared machine falls on all of
/// them alike; each gets `plan.duration` worth of messages. One row per server, in order.
pub(super) async fn interleaved_run(
    servers: &[(&Target, &ServerProcess)],
    transport: Transport,
    plan: Plan,
) -> Result<Vec<serde_json::Value>> {
    let mut stages = Vec::with_capacity(servers.len());
    for (target, _) in servers {
        let targets = std::slice::from_ref(*target);
        stages.push(Stage::gather(targets, transport, plan.receivers).await?);
    }
    let mut cpu_before = Vec::with_capacity(servers.len());
    for (_, server) in servers {
        cpu_before.push(server.cpu_time()?);
    }
    let started = Instant::now();
    let rate = (plan.offered / plan.receivers as u64).max(1) * servers.len() as u64;
    let duration = plan.duration * u32::try_from(servers.len()).unwrap_or(u32::MAX);
    let sent = publish_in_turn(&stages, rate, duration).await?;
    let elapsed = started.elapsed() / u32::try_from(servers.len()).unwrap_or(u32::MAX);
    let stack = format!("quicket {}", transport.name());
    let mut rows = Vec::with_capacity(servers.len());
    for (((stage, sent), (_, server)), before) in
        stages.into_iter().zip(sent).zip(servers).zip(cpu_before)
    {
        stage.drain(sent).await;
        let cpu = server.cpu_time()? - before;
        rows.push(
            stage
                .finish(&stack, plan, false, sent, elapsed, Some(cpu))
                .await,
        );
    }
    Ok(rows)
}

/// A room's receivers, what they saw, and the client that publishes to them.
struct Stage {
    shared: Arc<Shared>,
    receivers: Vec<Client>,
    publisher: Client,
}

impl Stage {
    /// `receivers` clients in the room, spread over `targets` in turn, and a publisher on the
    /// first.
    async fn gather(targets: &[Target], transport: Transport, receivers: usize) -> Result<Self> {
        let shared = Arc::new(Shared {
            epoch: Instant::now(),
            receivers,
            deliveries: Mutex::default(),
            progress: Notify::new(),
        });
        let mut clients = Vec::with_capacity(receivers);
        for (_, target) in (0..receivers).zip(targets.iter().cycle()) {
            let shared = Arc::clone(&shared);
            let builder = Client::builder().on("msg", move |Data(Raw(payload)): Data<Raw>| {
                shared.deliver(&payload);
                async {}
            });
            let client = target.connect(transport, builder).await?;
            let _joined: bool = client.emit_with_ack("join", ROOM).await?;
            clients.push(client);
        }
        let publisher = targets
            .first()
            .ok_or("a fan-out needs a target")?
            .connect(transport, Client::builder())
            .await?;
        Ok(Self {
            shared,
            receivers: clients,
            publisher,
        })
    }

    /// Publishes message `seq`, stamped as due at `at` after the epoch.
    fn publish(&self, seq: u64, at: Duration) -> Result<()> {
        let mut bytes = vec![0u8; 32];
        bytes[..8].copy_from_slice(&seq.to_le_bytes());
        let nanos = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX);
        bytes[8..16].copy_from_slice(&nanos.to_le_bytes());
        self.publisher.emit("publish", Raw(bytes.into()))?;
        Ok(())
    }

    /// Waits, at most 5 s, for every delivery of `sent` messages.
    async fn drain(&self, sent: u64) {
        let expected = sent * self.shared.receivers as u64;
        let drain = Instant::now();
        while self.delivered() < expected && drain.elapsed() < Duration::from_secs(5) {
            let _ =
                tokio::time::timeout(Duration::from_millis(50), self.shared.progress.notified())
                    .await;
        }
    }

    fn delivered(&self) -> u64 {
        let deliveries = self.shared.deliveries.lock();
        deliveries.unwrap_or_else(PoisonError::into_inner).delivered
    }

    /// Disconnects every client, and reports what they saw.
    async fn finish(
        self,
        stack: &str,
        plan: Plan,
        saturate: bool,
        sent: u64,
        elapsed: Duration,
        cpu: Option<Duration>,
    ) -> serde_json::Value {
        self.publisher.disconnect().await;
        for client in self.receivers {
            client.disconnect().await;
        }
        let d = self
            .shared
            .deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let latencies = [&d.all, &d.first, &d.last];
        fanout_row(
            stack,
            plan,
            saturate,
            sent,
            d.delivered,
            elapsed,
            cpu,
            latencies,
        )
    }
}

/// Publishes on a schedule, `rate` messages a second for `duration`, to `stages` in turn;
/// how many went to each. Latency counts from each message's due time, so a late send cannot
/// hide its lateness (coordinated omission).
async fn publish_in_turn(stages: &[Stage], rate: u64, duration: Duration) -> Result<Vec<u64>> {
    let mut sent = vec![0u64; stages.len()];
    let started = Instant::now();
    let mut total = 0u64;
    while started.elapsed() < duration {
        let due = started + Duration::from_nanos(total * 1_000_000_000 / rate);
        // The timer wheel ticks in milliseconds: sleep until just before the due time, then
        // yield until it, or the send would be late by up to a tick.
        let early = due.checked_sub(Duration::from_millis(1)).unwrap_or(due);
        tokio::time::sleep_until(early.into()).await;
        while Instant::now() < due {
            tokio::task::yield_now().await;
        }
        let turn = usize::try_from(total % stages.len() as u64).unwrap_or(0);
        let stage = &stages[turn];
        stage.publish(
            sent[turn],
            due.saturating_duration_since(stage.shared.epoch),
        )?;
        sent[turn] += 1;
        total += 1;
    }
    Ok(sent)
}

/// The CPU time of `servers` together, if any.
fn cpu_of(servers: &[&ServerProcess]) -> Result<Option<Duration>> {
    if servers.is_empty() {
        return Ok(None);
    }
    let mut total = Duration::ZERO;
    for server in servers {
        total += server.cpu_time()?;
    }
    Ok(Some(total))
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
