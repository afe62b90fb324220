//! The hostile scenario's attacks, each from raw connections that send what a well-behaved
//! client never would, and never fail the run when the server refuses them: refusing is
//! what the server should do.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use quicket::Client;
use quicket::proto::{Event, Frame, Hello, codec};
use quicket::transport::{Connection, Connector, FrameReader, FrameWriter, Incoming};
use quicket::ws::{WsClientConnection, WsConnector};
use quicket_testkit::RawPeer;
use tokio::task::JoinSet;

use crate::cli::Result;
use crate::process::ServerProcess;

/// One attack of the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Attack {
    Churn,
    LargeHello,
    Backlog,
    Initials,
    Presence,
}

/// How big an attack is, and how long it lasts.
pub(super) struct Plan {
    /// Connections, Hellos or Initials.
    pub(super) count: usize,
    /// How long the attack goes on (a time-bounded attack), or at least lasts.
    pub(super) length: Duration,
}

/// What an attack needs made before it is timed: the flood's Initials.
pub(super) enum Prepared {
    Nothing,
    Initials(Vec<Vec<u8>>),
}

/// At most this many raw connections at once in the churn attacks.
const CHURN_IN_FLIGHT: usize = 16;
/// Each raw step's bound: a server that stops answering must not hang the run.
const STEP: Duration = Duration::from_secs(5);
/// One event of the backlog flood.
const LARGE_EVENT: usize = 1 << 20;

impl Attack {
    pub(super) const ALL: [Attack; 5] = [
        Attack::Churn,
        Attack::LargeHello,
        Attack::Backlog,
        Attack::Initials,
        Attack::Presence,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Attack::Churn => "churn",
            Attack::LargeHello => "large hello",
            Attack::Backlog => "backlog",
            Attack::Initials => "initials",
            Attack::Presence => "presence",
        }
    }

    pub(super) fn plan(self, quick: bool) -> Plan {
        let (count, seconds) = match (self, quick) {
            // Ten times the 300,000 cycles the hardening issue measured; one client on two
            // cores needs a few minutes for them.
            (Attack::Churn, false) => (3_000_000, 60),
            (Attack::Churn, true) => (0, 2),
            (Attack::LargeHello, false) => (5_000, 2),
            (Attack::LargeHello, true) => (20, 1),
            (Attack::Backlog, false) => (40, 20),
            (Attack::Backlog, true) => (4, 2),
            (Attack::Initials, false) => (3_000, 5),
            (Attack::Initials, true) => (200, 1),
            (Attack::Presence, false) => (0, 20),
            (Attack::Presence, true) => (0, 2),
        };
        Plan {
            count,
            length: Duration::from_secs(seconds),
        }
    }

    pub(super) async fn prepare(self, plan: &Plan) -> Result<Prepared> {
        Ok(match self {
            Attack::Initials => {
                Prepared::Initials(quicket_quic::flood::unfinished_initials(plan.count).await?)
            }
            _ => Prepared::Nothing,
        })
    }

    /// Runs the attack; returns what it did, as a count.
    pub(super) async fn run(
        self,
        server: &ServerProcess,
        plan: &Plan,
        prepared: Prepared,
    ) -> Result<u64> {
        let ws = WsConnector::new(format!("ws://127.0.0.1:{}/quicket", server.port("ws")?));
        let deadline = Instant::now() + plan.length;
        match (self, prepared) {
            (Attack::Churn, _) => {
                let cycles = if plan.count == 0 {
                    usize::MAX
                } else {
                    plan.count
                };
                Ok(churn(&ws, deadline, None, cycles).await)
            }
            (Attack::LargeHello, _) => {
                let name = "n".repeat(LARGE_EVENT - 1024);
                Ok(churn(&ws, deadline, Some(name), plan.count).await)
            }
            (Attack::Backlog, _) => Ok(backlog(&ws, deadline, plan.count).await),
            (Attack::Initials, Prepared::Initials(initials)) => {
                let quic = SocketAddr::from(([127, 0, 0, 1], server.port("wt")?));
                let _replies_dropped =
                    quicket_quic::flood::send_unanswered(quic, &initials, 20).await?;
                // The flood's handshakes are held as long as the server keeps them.
                tokio::time::sleep_until(deadline.into()).await;
                Ok(initials.len() as u64)
            }
            (Attack::Initials, Prepared::Nothing) => Err("the Initials were not prepared".into()),
            (Attack::Presence, _) => presence(&ws, deadline).await,
        }
    }
}

impl Plan {
    pub(super) fn describe(&self, attack: Attack) -> String {
        let seconds = self.length.as_secs();
        match attack {
            Attack::Churn if self.count == 0 => format!("connect, Hello, drop for {seconds} s"),
            Attack::Churn => format!("{} connect, Hello, drop cycles", self.count),
            Attack::LargeHello => format!("{} Hellos with a 1 MiB name", self.count),
            Attack::Backlog => format!("{} connections × 1 MiB events for {seconds} s", self.count),
            Attack::Initials => format!("{} unfinished Initials from 20 addresses", self.count),
            Attack::Presence => format!("one socket tracking new keys for {seconds} s"),
        }
    }
}

/// A raw WebSocket connection, split.
async fn raw(ws: &WsConnector) -> Option<RawHalves> {
    let connection = tokio::time::timeout(STEP, ws.connect()).await.ok()?.ok()?;
    let (reader, writer, _) = connection.split(quicket::proto::MAX_FRAME_SIZE);
    Some(RawHalves { reader, writer })
}

struct RawHalves {
    reader: <WsClientConnection as Connection>::Reader,
    writer: <WsClientConnection as Connection>::Writer,
}

impl RawHalves {
    /// Sends `frame` and reads the answer; `None` when the server refused or went away.
    async fn exchange(&mut self, frame: &Frame) -> Option<Bytes> {
        let step = async {
            self.writer.send(codec::encode(frame)).await.ok()?;
            self.writer.flush().await.ok()?;
            match self.reader.recv().await.ok()? {
                Incoming::Frame(bytes) => Some(bytes),
                _ => None,
            }
        };
        tokio::time::timeout(STEP, step).await.ok().flatten()
    }
}

fn hello(client_name: Option<&str>) -> Frame {
    match RawPeer::<WsClientConnection>::hello() {
        Frame::Hello(hello) => Frame::Hello(Hello {
            client_name: client_name.map_or(hello.client_name.clone(), str::to_owned),
            ..hello
        }),
        other => other,
    }
}

/// Connects, says Hello (with `name` as the client name, if given), reads the answer and
/// drops the connection without a goodbye, `count` times or until `deadline`. Returns the
/// cycles done.
async fn churn(ws: &WsConnector, deadline: Instant, name: Option<String>, count: usize) -> u64 {
    let done = Arc::new(AtomicU64::new(0));
    let hello = Arc::new(hello(name.as_deref()));
    let mut workers = JoinSet::new();
    for _ in 0..CHURN_IN_FLIGHT {
        let (ws, done, hello) = (ws.clone(), Arc::clone(&done), Arc::clone(&hello));
        workers.spawn(async move {
            while Instant::now() < deadline || count != usize::MAX {
                if done.fetch_add(1, Ordering::Relaxed) >= count as u64 {
                    break;
                }
                if let Some(mut halves) = raw(&ws).await {
                    let _answer = halves.exchange(&hello).await;
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    done.load(Ordering::Relaxed).min(count as u64)
}

/// `connections` raw connections each sending 1 MiB `slow` events until `deadline`; returns
/// the events sent. A server that stops reading holds the senders back.
async fn backlog(ws: &WsConnector, deadline: Instant, connections: usize) -> u64 {
    let sent = Arc::new(AtomicU64::new(0));
    let event = codec::encode(&Frame::Event(Event {
        name: "slow".into(),
        ack: None,
        // `Data<Raw>` takes the bytes as they are.
        data: Bytes::from(vec![7; LARGE_EVENT - 1024]),
    }));
    let mut senders = JoinSet::new();
    for _ in 0..connections {
        let (ws, sent, event) = (ws.clone(), Arc::clone(&sent), event.clone());
        senders.spawn(async move {
            let Some(mut halves) = raw(&ws).await else {
                return;
            };
            if halves.exchange(&hello(None)).await.is_none() {
                return;
            }
            let flooding = async {
                while halves.writer.send(event.clone()).await.is_ok()
                    && halves.writer.flush().await.is_ok()
                {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            };
            let _until_deadline = tokio::time::timeout_at(deadline.into(), flooding).await;
        });
    }
    while senders.join_next().await.is_some() {}
    sent.load(Ordering::Relaxed)
}

/// One client asking to track a new presence key after another until `deadline`; returns
/// the keys the server accepted.
async fn presence(ws: &WsConnector, deadline: Instant) -> Result<u64> {
    let client = Client::builder().connect(ws).await?;
    let mut accepted = 0;
    let mut key = 0u64;
    while Instant::now() < deadline {
        let asked = client.emit_with_ack::<bool>("track", format!("key-{key}"));
        match tokio::time::timeout(STEP, asked).await {
            Ok(Ok(true)) => accepted += 1,
            Ok(_) => {}
            Err(_) => break,
        }
        key += 1;
    }
    client.disconnect().await;
    Ok(accepted)
}
