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
use crate::stats::Latencies;

/// Rounds the measurement is split into. Every stack is measured once per round, in turn, so
/// a slow spell of the shared machine falls on all of them rather than on whichever ran then.
const ROUNDS: u64 = 3;

/// One stack's samples and server CPU, summed over the rounds.
struct Tally {
    stack: String,
    group: &'static str,
    sampler: Sampler,
    cpu: Option<Duration>,
}

impl Tally {
    fn new(stack: String, group: &'static str) -> Self {
        Self {
            stack,
            group,
            sampler: Sampler::new(0, 0),
            cpu: Some(Duration::ZERO),
        }
    }

    fn add(&mut self, latencies: &Latencies, lost: u64, cpu: Option<Duration>) {
        self.sampler.latencies.merge(latencies);
        self.sampler.lost += lost;
        self.cpu = self.cpu.zip(cpu).map(|(a, b)| a + b);
    }
}

pub(super) async fn run(options: &RunOptions, report: &mut Report) -> Result<()> {
    let (warmup, count, rounds) = if options.quick {
        (100, 1_000, 1)
    } else {
        (1_000, 10_000, ROUNDS)
    };
    let per_round = count / rounds;
    let server = start_server("quicket", report).await?;
    let remote = Target::remote(&server)?;
    let local = Target::local();
    let networked = options.transports.iter().any(|t| *t != Transport::Mem);
    let mut floors = Vec::new();
    let mut peers = Vec::new();
    if networked {
        for floor in Floor::ALL {
            floors.push((floor, start_server(floor.kind(), report).await?));
        }
        for peer in Peer::ALL {
            match peer.start(report).await {
                Ok(server) => peers.push((peer, server)),
                Err(err) => report.skip(&format!("{} rtt", peer.name()), &err.to_string()),
            }
        }
    }
    let mut tallies: Vec<Tally> = options
        .transports
        .iter()
        .map(|t| Tally::new(format!("quicket {}", t.name()), t.floor_group()))
        .chain(
            floors
                .iter()
                .map(|(f, _)| Tally::new(f.name().to_owned(), f.group())),
        )
        .chain(
            peers
                .iter()
                .map(|(p, _)| Tally::new(p.name().to_owned(), "peer")),
        )
        .collect();
    for _ in 0..rounds {
        let mut tally = tallies.iter_mut();
        for &transport in &options.transports {
            let (target, process) = match transport {
                Transport::Mem => (&local, None),
                _ => (&remote, Some(&server)),
            };
            let (sampler, cpu) =
                quicket_round_trips(target, process, transport, warmup, per_round).await?;
            if let Some(tally) = tally.next() {
                tally.add(&sampler.latencies, sampler.lost, cpu);
            }
        }
        for (floor, server) in &floors {
            floor.round_trips(server, 0, warmup).await?;
            let before = server.cpu_time()?;
            let latencies = floor.round_trips(server, 0, per_round).await?;
            let cpu = server.cpu_time()? - before;
            if let Some(tally) = tally.next() {
                tally.add(&latencies, 0, Some(cpu));
            }
        }
        for (peer, server) in &peers {
            let (latencies, cpu) = peers::rtt_round(*peer, server, warmup, per_round).await?;
            // The driver's warm-up runs against the same server and is in its CPU time: count
            // it out in proportion.
            let cpu = cpu.mul_f64(per_round as f64 / (warmup + per_round) as f64);
            if let Some(tally) = tally.next() {
                tally.add(&latencies, 0, Some(cpu));
            }
        }
    }
    for tally in tallies {
        let cpu = tally
            .cpu
            .filter(|_| !tally.stack.ends_with(Transport::Mem.name()));
        let cpu = cpu.map(|cpu| per_round_trip(cpu, tally.sampler.latencies.len()));
        report
            .cdfs
            .push((tally.stack.clone(), tally.sampler.latencies.cdf()));
        report.rtt(RttRow::new(tally.stack, tally.group, &tally.sampler, cpu));
    }
    server.stop().await;
    let others = floors
        .into_iter()
        .map(|(_, s)| s)
        .chain(peers.into_iter().map(|(_, s)| s));
    for server in others {
        server.stop().await;
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
) -> Result<(Sampler, Option<Duration>)> {
    let servers = [(target, process)];
    let mut measured = interleaved_round_trips(&servers, transport, warmup, count).await?;
    measured.pop().ok_or_else(|| "no server measured".into())
}

/// Round trips to each of `servers` in turn, one at a time: the first server's, then the
/// second's, and so on, `count` times after `warmup` rounds. Each server's samples then lie
/// side by side in time with the others', so a slow spell of the shared machine falls on all
/// of them alike. Each server's samples and CPU, in `servers`' order.
pub(super) async fn interleaved_round_trips(
    servers: &[(&Target, Option<&ServerProcess>)],
    transport: Transport,
    warmup: u64,
    count: u64,
) -> Result<Vec<(Sampler, Option<Duration>)>> {
    let mut pingers = Vec::with_capacity(servers.len());
    for (target, _) in servers {
        pingers.push(Pinger::connect(target, transport).await?);
    }
    let mut discarded = Sampler::new(0, 0);
    for _ in 0..warmup {
        for pinger in &mut pingers {
            pinger.once(&mut discarded).await?;
        }
    }
    let processes = servers.iter().map(|(_, process)| *process);
    let before: Vec<Option<Duration>> = processes
        .clone()
        .map(|process| process.map(ServerProcess::cpu_time).transpose())
        .collect::<Result<_>>()?;
    let mut samplers: Vec<Sampler> = servers.iter().map(|_| Sampler::new(0, count)).collect();
    for _ in 0..count {
        for (pinger, sampler) in pingers.iter_mut().zip(&mut samplers) {
            pinger.once(sampler).await?;
        }
    }
    let mut measured = Vec::with_capacity(servers.len());
    for ((process, before), sampler) in processes.zip(before).zip(samplers) {
        let cpu = match (process, before) {
            (Some(process), Some(before)) => Some(process.cpu_time()? - before),
            _ => None,
        };
        measured.push((sampler, cpu));
    }
    for pinger in pingers {
        pinger.client.disconnect().await;
    }
    Ok(measured)
}

/// A client that sends 32-byte pings, numbered, one at a time.
struct Pinger {
    client: Client,
    pongs: mpsc::UnboundedReceiver<u64>,
    transport: Transport,
    seq: u64,
}

impl Pinger {
    async fn connect(target: &Target, transport: Transport) -> Result<Self> {
        let (pongs_tx, pongs) = mpsc::unbounded_channel::<u64>();
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
        Ok(Self {
            client,
            pongs,
            transport,
            seq: 0,
        })
    }

    /// One round trip, recorded in `sampler` (or counted lost, for a datagram).
    async fn once(&mut self, sampler: &mut Sampler) -> Result<()> {
        self.seq += 1;
        let seq = self.seq;
        let mut payload = [7u8; PAYLOAD];
        payload[..8].copy_from_slice(&seq.to_le_bytes());
        let payload = Raw(bytes::Bytes::copy_from_slice(&payload));
        let started = Instant::now();
        if self.transport == Transport::WtDgram {
            self.client.volatile().emit("ping", payload)?;
            let pongs = &mut self.pongs;
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
            let _echo: Raw = self.client.emit_with_ack("echo", payload).await?;
            sampler.record(started);
        }
        Ok(())
    }
}

/// Server CPU microseconds per round trip.
fn per_round_trip(cpu: Duration, round_trips: u64) -> f64 {
    cpu.as_secs_f64() * 1e6 / round_trips.max(1) as f64
}
