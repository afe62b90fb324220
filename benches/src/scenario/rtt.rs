//! `rtt`: one client, one 32-byte request in flight, round trips after a warm-up.

use std::time::{Duration, Instant};

use quicket::{Client, Data, Raw};
use tokio::sync::mpsc;

use super::start_server;
use crate::baseline::{DATAGRAM_WAIT, Floor, PAYLOAD, Sampler};
use crate::cli::{Result, RunOptions, Transport};
use crate::echo::Target;
use crate::peers::{self, Peer};
use crate::process::ServerProcess;
use crate::report::{Report, RttRow};

pub(super) async fn run(options: &RunOptions, report: &mut Report) -> Result<()> {
    let (warmup, count) = if options.quick {
        (100, 1_000)
    } else {
        (1_000, 10_000)
    };
    let server = start_server("quicket", report).await?;
    let remote = Target::remote(&server)?;
    let local = Target::local();
    for &transport in &options.transports {
        let (target, process) = match transport {
            Transport::Mem => (&local, None),
            _ => (&remote, Some(&server)),
        };
        let (sampler, cpu) = quicket_round_trips(target, process, transport, warmup, count).await?;
        report.cdfs.push((
            format!("quicket {}", transport.name()),
            sampler.latencies.cdf(),
        ));
        report.rtt(RttRow::new(
            format!("quicket {}", transport.name()),
            transport.floor_group(),
            &sampler,
            cpu,
        ));
    }
    server.stop().await;

    if options.transports.iter().any(|t| *t != Transport::Mem) {
        for floor in Floor::ALL {
            let server = start_server(floor.kind(), report).await?;
            floor.round_trips(&server, 0, warmup).await?;
            let before = server.cpu_time()?;
            let latencies = floor.round_trips(&server, 0, count).await?;
            let cpu = per_round_trip(server.cpu_time()? - before, latencies.len());
            report.cdfs.push((floor.name().to_owned(), latencies.cdf()));
            let mut sampler = Sampler::new(0, 0);
            sampler.latencies = latencies;
            report.rtt(RttRow::new(
                floor.name().to_owned(),
                floor.group(),
                &sampler,
                Some(cpu),
            ));
            server.stop().await;
        }
        for peer in Peer::ALL {
            let mut cdfs = Vec::new();
            match peers::rtt(peer, report, &mut cdfs, warmup, count).await {
                Ok(row) => {
                    report.cdfs.append(&mut cdfs);
                    report.rtt(row);
                }
                Err(err) => report.skip(&format!("{} rtt", peer.name()), &err.to_string()),
            }
        }
    }
    Ok(())
}

/// Round trips of a quicket client: `emit_with_ack` on the reliable channel, or a volatile
/// ping answered by a volatile pong on datagrams.
pub(super) async fn quicket_round_trips(
    target: &Target,
    process: Option<&ServerProcess>,
    transport: Transport,
    warmup: u64,
    count: u64,
) -> Result<(Sampler, Option<f64>)> {
    let (pongs_tx, mut pongs) = mpsc::unbounded_channel::<u64>();
    let builder = Client::builder().on("pong", move |Data(Raw(data)): Data<Raw>| {
        let seq = data
            .get(..8)
            .and_then(|s| s.try_into().ok())
            .map(u64::from_le_bytes);
        if let Some(seq) = seq {
            let _ = pongs_tx.send(seq);
        }
        async {}
    });
    let client = target.connect(transport, builder).await?;
    let mut seq = 0u64;
    let mut once = async |sampler: &mut Sampler| -> Result<()> {
        seq += 1;
        let mut payload = [7u8; PAYLOAD];
        payload[..8].copy_from_slice(&seq.to_le_bytes());
        let payload = Raw(bytes::Bytes::copy_from_slice(&payload));
        let started = Instant::now();
        if transport == Transport::WtDgram {
            client.volatile().emit("ping", payload)?;
            let answered = tokio::time::timeout(DATAGRAM_WAIT, async {
                while let Some(pong) = pongs.recv().await {
                    if pong == seq {
                        return true;
                    }
                }
                false
            })
            .await;
            match answered {
                Ok(true) => sampler.record(started),
                _ => sampler.lose(),
            }
        } else {
            let _echo: Raw = client.emit_with_ack("echo", payload).await?;
            sampler.record(started);
        }
        Ok(())
    };
    let mut warm = Sampler::new(0, warmup);
    while warm.more() {
        once(&mut warm).await?;
    }
    let before = process.map(ServerProcess::cpu_time).transpose()?;
    let mut sampler = Sampler::new(0, count);
    while sampler.more() {
        once(&mut sampler).await?;
    }
    let cpu = match (process, before) {
        (Some(process), Some(before)) => Some(per_round_trip(process.cpu_time()? - before, count)),
        _ => None,
    };
    client.disconnect().await;
    Ok((sampler, cpu))
}

/// Server CPU microseconds per round trip.
pub(crate) fn per_round_trip(cpu: Duration, round_trips: u64) -> f64 {
    cpu.as_secs_f64() * 1e6 / round_trips.max(1) as f64
}
