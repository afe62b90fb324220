//! Head-of-line blocking: the latency of small events in room A at a client that also
//! receives a bulk stream in room B on the same connection. A packet lost from B's stream
//! stalls A's events behind it wherever both share one ordered byte stream: on WebSocket,
//! and on WebTransport with one channel; with channels, each room has a stream of its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use quicket::{Client, ClientConfig, ConnectionLimits, Data, Raw};
use tokio::sync::Notify;

use crate::cli::{Result, Transport};
use crate::echo::{CAST_ROOMS, Target};
use crate::stats::Latencies;

/// How a head-of-line run is sized.
#[derive(Debug, Clone, Copy)]
pub(super) struct HolPlan {
    /// How long both publishers send.
    pub(super) duration: Duration,
    /// One small event in room A this often.
    pub(super) small_every: Duration,
    /// The size of each bulk event in room B.
    pub(super) bulk_bytes: usize,
    /// One bulk event this often.
    pub(super) bulk_every: Duration,
}

impl HolPlan {
    /// 32-byte events in A every 5 ms beside 16 KiB in B every 10 ms (1.6 MB/s).
    pub(super) fn new(quick: bool) -> Self {
        Self {
            duration: Duration::from_millis(if quick { 1_000 } else { 5_000 }),
            small_every: Duration::from_millis(5),
            bulk_bytes: 16 * 1024,
            bulk_every: Duration::from_millis(10),
        }
    }

    /// Bytes per second of the bulk stream.
    pub(super) fn bulk_rate(&self) -> f64 {
        self.bulk_bytes as f64 / self.bulk_every.as_secs_f64()
    }
}

/// What the receiver saw.
pub(super) struct HolOutcome {
    /// Latency of each small event, send to receipt.
    pub(super) small: Latencies,
    pub(super) small_sent: u64,
    pub(super) small_received: u64,
    pub(super) bulk_received_bytes: u64,
    /// Bulk events the publisher's client refused (its outbox full), not sent.
    pub(super) bulk_refused: u64,
}

struct Receiver {
    epoch: Instant,
    small: Mutex<Latencies>,
    small_received: AtomicU64,
    bulk_bytes: AtomicU64,
    progress: Notify,
}

impl Receiver {
    fn receive(&self, payload: &[u8]) {
        match payload.first() {
            Some(b'a') => {
                let sent = payload
                    .get(1..9)
                    .and_then(|bytes| bytes.try_into().ok())
                    .map(u64::from_le_bytes);
                if let Some(sent) = sent {
                    let latency = self
                        .epoch
                        .elapsed()
                        .saturating_sub(Duration::from_nanos(sent));
                    self.small
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .record(latency);
                    self.small_received.fetch_add(1, Ordering::Relaxed);
                    self.progress.notify_one();
                }
            }
            Some(b'b') => {
                self.bulk_bytes
                    .fetch_add(payload.len() as u64, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// One run over `transport`: a receiver in both rooms, a small publisher and a bulk publisher.
/// `one_channel` has the receiver offer no channels (PROTOCOL.md section 2.2), so that both
/// rooms share its connection's one ordered stream, as before channels.
pub(super) async fn run(
    target: &Target,
    transport: Transport,
    plan: HolPlan,
    one_channel: bool,
) -> Result<HolOutcome> {
    let receiver = Arc::new(Receiver {
        epoch: Instant::now(),
        small: Mutex::new(Latencies::new()),
        small_received: AtomicU64::new(0),
        bulk_bytes: AtomicU64::new(0),
        progress: Notify::new(),
    });
    let shared = Arc::clone(&receiver);
    let mut config = ClientConfig::default();
    if one_channel {
        config = config.limits(ConnectionLimits::default().max_channels(0));
    }
    let client = target
        .connect(
            transport,
            Client::builder()
                .config(config)
                .on("msg", move |Data(Raw(payload)): Data<Raw>| {
                    shared.receive(&payload);
                    async {}
                }),
        )
        .await?;
    for (_, room) in CAST_ROOMS {
        let _joined: bool = client.emit_with_ack("join", room).await?;
    }
    let small = target.connect(transport, Client::builder()).await?;
    let bulk = target.connect(transport, Client::builder()).await?;
    let epoch = receiver.epoch;
    let started = Instant::now();
    let bulk_task = tokio::spawn(async move {
        let mut refused = 0u64;
        let mut ticks = tokio::time::interval(plan.bulk_every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut payload = vec![0u8; plan.bulk_bytes];
        payload[0] = b'b';
        let payload = bytes::Bytes::from(payload);
        while started.elapsed() < plan.duration {
            ticks.tick().await;
            if bulk.emit("cast", Raw(payload.clone())).is_err() {
                refused += 1;
            }
        }
        (bulk, refused)
    });
    let mut sent = 0u64;
    let mut ticks = tokio::time::interval(plan.small_every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while started.elapsed() < plan.duration {
        ticks.tick().await;
        let mut payload = [0u8; 32];
        payload[0] = b'a';
        let at = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        payload[1..9].copy_from_slice(&at.to_le_bytes());
        small.emit("cast", Raw(bytes::Bytes::copy_from_slice(&payload)))?;
        sent += 1;
    }
    let (bulk, bulk_refused) = bulk_task.await?;
    // Bounded wait for the stragglers.
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while receiver.small_received.load(Ordering::Relaxed) < sent {
            receiver.progress.notified().await;
        }
    })
    .await;
    for client in [small, bulk, client] {
        client.disconnect().await;
    }
    let small = std::mem::replace(
        &mut *receiver
            .small
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
        Latencies::new(),
    );
    Ok(HolOutcome {
        small,
        small_sent: sent,
        small_received: receiver.small_received.load(Ordering::Relaxed),
        bulk_received_bytes: receiver.bulk_bytes.load(Ordering::Relaxed),
        bulk_refused,
    })
}
