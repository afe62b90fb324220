//! The raw floors: tiny echo servers and clients on each transport's own stack, with no
//! quicket code. Every quicket figure is divided by its transport's floor.

mod quic;
mod udp;
mod ws;

use std::future::Future;
use std::time::{Duration, Instant};

use crate::cli::Result;
use crate::process::ServerProcess;
use crate::stats::Latencies;

/// The size of every echoed payload, as in quicket's round trips.
pub(crate) const PAYLOAD: usize = 32;

/// A raw stack measured as a floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Floor {
    /// tokio UDP sockets.
    Udp,
    /// quinn datagrams.
    QuinnDatagram,
    /// One long-lived quinn bidirectional stream.
    QuinnBidi,
    /// One wtransport bidirectional stream.
    WtStream,
    /// wtransport datagrams.
    WtDatagram,
    /// tokio-tungstenite binary messages.
    Ws,
}

impl Floor {
    pub(crate) const ALL: [Floor; 6] = [
        Floor::Udp,
        Floor::QuinnDatagram,
        Floor::QuinnBidi,
        Floor::WtStream,
        Floor::WtDatagram,
        Floor::Ws,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Floor::Udp => "raw tokio UDP",
            Floor::QuinnDatagram => "raw quinn datagram",
            Floor::QuinnBidi => "raw quinn bidi stream",
            Floor::WtStream => "raw wtransport stream",
            Floor::WtDatagram => "raw wtransport datagram",
            Floor::Ws => "raw tokio-tungstenite",
        }
    }

    /// Which quicket rows it is the floor of.
    pub(crate) fn group(self) -> &'static str {
        match self {
            Floor::Udp => "udp",
            Floor::QuinnDatagram => "quic-datagram",
            Floor::QuinnBidi => "quic-stream",
            Floor::WtStream => "wt-stream",
            Floor::WtDatagram => "wt-datagram",
            Floor::Ws => "websocket",
        }
    }

    /// The `serve --kind` of its server process.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Floor::Udp => "udp",
            Floor::QuinnDatagram | Floor::QuinnBidi => "quinn",
            Floor::WtStream | Floor::WtDatagram => "wt",
            Floor::Ws => "ws",
        }
    }

    /// Measures `count` round trips after `warmup` against `server`.
    pub(crate) async fn round_trips(
        self,
        server: &ServerProcess,
        warmup: u64,
        count: u64,
    ) -> Result<Latencies> {
        let mut sampler = Sampler::new(warmup, count);
        match self {
            Floor::Udp => udp::round_trips(server, &mut sampler).await?,
            Floor::QuinnDatagram => quic::quinn_datagrams(server, &mut sampler).await?,
            Floor::QuinnBidi => quic::quinn_stream(server, &mut sampler).await?,
            Floor::WtStream => quic::wt_stream(server, &mut sampler).await?,
            Floor::WtDatagram => quic::wt_datagrams(server, &mut sampler).await?,
            Floor::Ws => ws::round_trips(server, &mut sampler).await?,
        }
        Ok(sampler.latencies)
    }
}

/// `quicket-bench serve --kind K` for a raw floor.
pub(crate) async fn serve(kind: &str) -> Result<()> {
    match kind {
        "udp" => udp::serve().await,
        "quinn" => quic::serve_quinn().await,
        "wt" => quic::serve_wt().await,
        "ws" => ws::serve().await,
        other => Err(format!("unknown server kind {other}").into()),
    }
}

/// Counts warm-up round trips, then records the measured ones.
pub(crate) struct Sampler {
    warmup: u64,
    count: u64,
    done: u64,
    /// Datagram round trips that never came back.
    pub(crate) lost: u64,
    pub(crate) latencies: Latencies,
}

impl Sampler {
    pub(crate) fn new(warmup: u64, count: u64) -> Self {
        Self {
            warmup,
            count,
            done: 0,
            lost: 0,
            latencies: Latencies::new(),
        }
    }

    /// Whether another round trip is wanted.
    pub(crate) fn more(&self) -> bool {
        self.done < self.warmup + self.count
    }

    pub(crate) fn record(&mut self, started: Instant) {
        if self.done >= self.warmup {
            self.latencies.record(started.elapsed());
        }
        self.done += 1;
    }

    /// A round trip that timed out: it counts toward the total, and as lost.
    pub(crate) fn lose(&mut self) {
        if self.done >= self.warmup {
            self.lost += 1;
        }
        self.done += 1;
    }

    /// Waits up to [`DATAGRAM_WAIT`] for `reply` (the matching answer to a datagram sent at
    /// `started`), recording the round trip or counting it lost.
    pub(crate) async fn datagram<E>(
        &mut self,
        started: Instant,
        reply: impl Future<Output = std::result::Result<(), E>>,
    ) -> std::result::Result<(), E> {
        match tokio::time::timeout(DATAGRAM_WAIT, reply).await {
            Ok(result) => {
                result?;
                self.record(started);
            }
            Err(_) => self.lose(),
        }
        Ok(())
    }

    /// Echo round trips of `PAYLOAD` bytes on one byte stream.
    pub(crate) async fn stream<W, R>(&mut self, send: &mut W, recv: &mut R) -> std::io::Result<()>
    where
        W: tokio::io::AsyncWrite + Unpin,
        R: tokio::io::AsyncRead + Unpin,
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let payload = [7u8; PAYLOAD];
        let mut reply = [0u8; PAYLOAD];
        while self.more() {
            let started = Instant::now();
            send.write_all(&payload).await?;
            recv.read_exact(&mut reply).await?;
            self.record(started);
        }
        Ok(())
    }
}

/// How long a datagram round trip is waited for before it counts as lost.
pub(crate) const DATAGRAM_WAIT: Duration = Duration::from_millis(200);
