//! `migration`: a publisher sends a numbered event every millisecond to a receiver in the room,
//! and the receiver's path breaks N times (20; 3 quick), as a phone changing network or a NAT
//! rebinding would break it.
//!
//! - WebTransport goes through a UDP relay whose server-facing port moves to a new one (a NAT
//!   rebind): QUIC keeps the connection, the server following the client's new address.
//! - WebSocket goes through a TCP relay that resets the connection (RST, a NAT losing its
//!   mapping): the client reconnects and resumes its session. It retries after 1 ms, not the
//!   default 1 s ± 50 %, so its gap is the reconnect and resume themselves.
//!
//! The figure is the delivery gap of each break: the longest time between two consecutive
//! arrivals, from the last arrival before the break to the first event published after it.
//! The publisher connects straight to the server over WebTransport in every run. The receiver
//! also sends an event every millisecond (to the room but itself: no one), as a chat or an IoT
//! client would; the ratio compares those two runs.
//!
//! A third run has a receiver that sends nothing. After a rebind the server keeps sending to
//! the old address until a packet from the new one arrives: a receiver that still owed an ACK
//! sends it within the ACK delay, but one with nothing left to acknowledge is silent, and the
//! stream stalls until its QUIC keep-alive (1 s, `QuicLimits::client`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use quicket::{Client, ClientConfig, Raw, ReconnectConfig, ReconnectEvent};
use quicket_quic::{QuicConnector, ServerTrust};
use quicket_testkit::tcp_relay::{self, TcpRelay};
use quicket_testkit::udp_relay::{self, UdpRelay};
use serde_json::json;
use tokio::sync::mpsc;

use self::arrivals::Arrivals;
use super::start_server;
use crate::cli::{Result, RunOptions, Transport};
use crate::echo::{ROOM, Target};
use crate::process::ServerProcess;
use crate::report::Report;
use crate::stats::Latencies;

mod arrivals;
mod gaps;

/// How long a break may take to heal before the run fails: well past the client's QUIC
/// keep-alive (1 s), which is what heals a silent receiver's path.
const HEAL_WITHIN: Duration = Duration::from_secs(30);
/// Steady traffic before the first break and after each one heals.
const SETTLE: Duration = Duration::from_millis(100);

/// One stream and its breaks.
#[derive(Debug, Clone, Copy)]
struct Run {
    transport: Transport,
    /// Whether the receiver sends an event every millisecond too.
    uplink: bool,
    breaks: usize,
}

pub(super) async fn run(options: &RunOptions, report: &mut Report) -> Result<()> {
    let (breaks, silent_breaks) = if options.quick { (3, 1) } else { (20, 10) };
    let runs = [
        (Transport::Wt, true, breaks),
        (Transport::Ws, true, breaks),
        // Each break may stall for a keep-alive interval: fewer of them.
        (Transport::Wt, false, silent_breaks),
    ];
    let server = start_server("quicket", report).await?;
    let target = Target::remote(&server)?;
    let mut gaps = Vec::new();
    for (transport, uplink, breaks) in runs {
        if !options.transports.contains(&transport) {
            continue;
        }
        let run = Run {
            transport,
            uplink,
            breaks,
        };
        let row = stream(&server, &target, run).await?;
        if uplink {
            gaps.push((row["gap p50 ms"].as_f64(), row["gap max ms"].as_f64()));
        }
        report.row("migration", "Delivery gap when the path breaks", row);
    }
    server.stop().await;
    if let [(wt_p50, wt_max), (ws_p50, ws_max)] = gaps[..] {
        let ratio = |a: Option<f64>, b: Option<f64>| Some(a? / b.filter(|b| *b > 0.0)?);
        report.row(
            "migration",
            "Delivery gap when the path breaks: WebTransport / WebSocket",
            json!({
                "stack": "quicket webtransport-stream / websocket",
                "receiver sends": "1 event/ms",
                "gap p50 ratio": ratio(wt_p50, ws_p50),
                "gap max ratio": ratio(wt_max, ws_max),
                "target": "≤ 0.2",
            }),
        );
    }
    Ok(())
}

/// The receiver's path, and how it breaks.
enum Path {
    /// QUIC through a relay that rebinds its server-facing port.
    Rebinding(UdpRelay),
    /// WebSocket through a relay that resets the connection.
    Resetting(TcpRelay),
}

impl Path {
    /// Breaks the path; a reset returns once the client has resumed its session.
    async fn cut(&self, events: &mut mpsc::Receiver<ReconnectEvent>) -> Result<()> {
        match self {
            Path::Rebinding(relay) => {
                relay.rebind().await;
                Ok(())
            }
            Path::Resetting(relay) => {
                relay.cut();
                loop {
                    match tokio::time::timeout(HEAL_WITHIN, events.recv()).await {
                        Ok(Some(ReconnectEvent::Reconnected { recovered, .. })) => {
                            return if recovered {
                                Ok(())
                            } else {
                                Err("the session was not resumed".into())
                            };
                        }
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => return Err("the client did not reconnect".into()),
                    }
                }
            }
        }
    }
}

/// One run: connect the receiver through a relay, publish, break the path, report.
async fn stream(server: &ServerProcess, target: &Target, run: Run) -> Result<serde_json::Value> {
    let arrivals = Arrivals::new();
    let (path, client, events, label) = if run.transport == Transport::Ws {
        let relay = tcp_relay::start(SocketAddr::from(([127, 0, 0, 1], server.port("ws")?))).await;
        let reconnect = ReconnectConfig::default()
            .delay(Duration::from_millis(1))
            .max_delay(Duration::from_millis(100))
            .randomization(0.0);
        let config = ClientConfig::default().reconnect(Some(reconnect));
        let (builder, events) = arrivals.receiver(config);
        let connector = quicket::ws::WsConnector::new(format!("ws://{}/quicket", relay.addr));
        let client = builder.connect(&connector).await?;
        (Path::Resetting(relay), client, events, "TCP reset, resume")
    } else {
        let wt = SocketAddr::from(([127, 0, 0, 1], server.port("wt")?));
        let relay = udp_relay::start(wt, 0.0, 1).await;
        let url = format!("https://127.0.0.1:{}/quicket", relay.addr.port());
        let (builder, events) = arrivals.receiver(ClientConfig::default());
        let client = builder
            .connect(&QuicConnector::new(url, ServerTrust::Dangerous)?)
            .await?;
        (
            Path::Rebinding(relay),
            client,
            events,
            "UDP port rebind (NAT)",
        )
    };
    let outcome = measure(target, &client, &path, events, &arrivals, run).await;
    client.disconnect().await;
    let measured = outcome?;
    let gaps = gaps::analyse(&arrivals.take(), &measured.breaks, measured.published);
    let mut per_break = Latencies::new();
    for gap in &gaps.per_break {
        per_break.record(*gap);
    }
    let s = per_break.summary();
    Ok(json!({
        "stack": format!("quicket {}", run.transport.name()),
        "break": label,
        "receiver sends": if run.uplink { "1 event/ms" } else { "nothing" },
        "breaks": measured.breaks.len(),
        "events": measured.published,
        "gap p50 ms": s.p50_us / 1000.0,
        "gap max ms": s.max_us / 1000.0,
        "steady max gap ms": gaps.steady_max.as_secs_f64() * 1000.0,
        "lost": gaps.lost,
        "duplicated": gaps.duplicated,
        "reconnects": arrivals.reconnects.load(Ordering::Relaxed),
        "same session": measured.same_session,
    }))
}

/// What [`measure`] saw besides the arrivals.
struct Measured {
    /// Each break: when, and the first event published after it.
    breaks: Vec<(Duration, u64)>,
    /// Events published.
    published: u64,
    /// Whether the receiver's socket id never changed.
    same_session: bool,
}

/// Publishes every millisecond while the path breaks `run.breaks` times, each once healed.
async fn measure(
    target: &Target,
    client: &Client,
    path: &Path,
    mut events: mpsc::Receiver<ReconnectEvent>,
    arrivals: &Arrivals,
    run: Run,
) -> Result<Measured> {
    let _joined: bool = client.emit_with_ack("join", ROOM).await?;
    let id = client.id();
    let publisher = target.connect(Transport::Wt, Client::builder()).await?;
    let (running, sent) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicU64::new(0)));
    let pacer = pace(&publisher, &running, &sent);
    let uplink = run
        .uplink
        .then(|| pace(client, &running, &Arc::new(AtomicU64::new(0))));
    tokio::time::sleep(SETTLE).await;
    let mut breaks = Vec::with_capacity(run.breaks);
    for _ in 0..run.breaks {
        let at = arrivals.epoch.elapsed();
        path.cut(&mut events).await?;
        let mark = sent.load(Ordering::Relaxed);
        arrivals.wait_for(mark, HEAL_WITHIN).await?;
        breaks.push((at, mark));
        tokio::time::sleep(SETTLE).await;
    }
    running.store(false, Ordering::Relaxed);
    let published = pacer.await??;
    if let Some(uplink) = uplink {
        uplink.await??;
    }
    // The tail gets a bounded wait; what does not come is counted lost.
    let _ = arrivals
        .wait_for(published.saturating_sub(1), Duration::from_secs(5))
        .await;
    publisher.disconnect().await;
    Ok(Measured {
        breaks,
        published,
        same_session: client.id() == id,
    })
}

/// `publish`es 0, 1, 2… from `client` every millisecond until `running` clears; `sent` follows
/// the count, which the task returns.
fn pace(
    client: &Client,
    running: &Arc<AtomicBool>,
    sent: &Arc<AtomicU64>,
) -> tokio::task::JoinHandle<std::result::Result<u64, quicket::EmitError>> {
    let (client, running, sent) = (client.clone(), Arc::clone(running), Arc::clone(sent));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        let mut n = 0u64;
        while running.load(Ordering::Relaxed) {
            tick.tick().await;
            client.emit("publish", Raw(n.to_le_bytes().to_vec().into()))?;
            n += 1;
            sent.store(n, Ordering::Relaxed);
        }
        Ok(n)
    })
}
