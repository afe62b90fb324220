//! Volatile round trips at a fixed rate, as a game or a sensor sends: a `ping` every interval
//! whatever came back, each `pong` matched to its ping by sequence number. Unlike one ping in
//! flight, a lost datagram leaves no idle gap that the next round trip would pay for in
//! wake-ups, so the figures are the datagrams' own.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use quicket::{Client, Data, Raw};

use crate::baseline::{DATAGRAM_WAIT, PAYLOAD};
use crate::cli::{Result, Transport};
use crate::echo::Target;
use crate::stats::Latencies;

/// What came back of the pings sent.
pub(super) struct Paced {
    pub(super) latencies: Latencies,
    pub(super) sent: u64,
    pub(super) answered: u64,
}

struct Pongs {
    epoch: Instant,
    /// Nanoseconds since `epoch` each ping left at, by sequence number; zero once answered.
    sent_at: Vec<u64>,
    latencies: Latencies,
    answered: u64,
}

/// Sends `count` volatile pings over `transport`, one every `interval`.
pub(super) async fn round_trips(
    target: &Target,
    transport: Transport,
    count: u64,
    interval: Duration,
) -> Result<Paced> {
    let pongs = Arc::new(Mutex::new(Pongs {
        epoch: Instant::now(),
        sent_at: vec![0; usize::try_from(count)?],
        latencies: Latencies::new(),
        answered: 0,
    }));
    let shared = Arc::clone(&pongs);
    let builder = Client::builder().on("pong", move |Data(Raw(data)): Data<Raw>| {
        let seq = data
            .get(..8)
            .and_then(|s| s.try_into().ok())
            .map(u64::from_le_bytes)
            .and_then(|seq| usize::try_from(seq).ok());
        let mut pongs = shared.lock().unwrap_or_else(PoisonError::into_inner);
        let now = pongs.epoch.elapsed();
        let sent = seq.and_then(|seq| pongs.sent_at.get_mut(seq).map(std::mem::take));
        if let Some(sent) = sent.filter(|sent| *sent > 0) {
            pongs
                .latencies
                .record(now.saturating_sub(Duration::from_nanos(sent)));
            pongs.answered += 1;
        }
        async {}
    });
    let client = target.connect(transport, builder).await?;
    let mut ticks = tokio::time::interval(interval);
    for seq in 0..count {
        ticks.tick().await;
        let mut payload = [7u8; PAYLOAD];
        payload[..8].copy_from_slice(&seq.to_le_bytes());
        {
            let mut pongs = pongs.lock().unwrap_or_else(PoisonError::into_inner);
            let at = u64::try_from(pongs.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
            if let Some(slot) = usize::try_from(seq)
                .ok()
                .and_then(|s| pongs.sent_at.get_mut(s))
            {
                *slot = at.max(1);
            }
        }
        client
            .volatile()
            .emit("ping", Raw(bytes::Bytes::copy_from_slice(&payload)))?;
    }
    // The last pings' answers get as long as a single round trip's wait would.
    tokio::time::sleep(DATAGRAM_WAIT).await;
    client.disconnect().await;
    let mut pongs = pongs.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(Paced {
        latencies: std::mem::replace(&mut pongs.latencies, Latencies::new()),
        sent: count,
        answered: pongs.answered,
    })
}
