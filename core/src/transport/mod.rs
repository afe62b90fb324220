//! The transport seam: what core needs from QUIC, WebSocket or an in-memory pipe.
//!
//! A [`Listener`] yields [`Connection`]s; a [`Connector`] opens one. A connection splits into a
//! [`FrameReader`], a [`FrameWriter`] for reliable ordered frames, and optionally a
//! [`DatagramSender`] for unreliable ones. Frames cross the seam as encoded [`Bytes`], one
//! frame each, so a transport never parses them and core never sees a socket type.

pub mod memory;
mod source;

pub use self::source::{SourceLimit, SourceSlot, source_key};

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use quicket_proto::DisconnectReason;
use thiserror::Error;

/// Which transport carries a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// WebTransport over QUIC.
    WebTransport,
    /// WebSocket over TCP.
    WebSocket,
    /// The in-process pipe of [`memory`].
    Memory,
}

impl TransportKind {
    /// The name `Display` writes, as a metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            TransportKind::WebTransport => "webtransport",
            TransportKind::WebSocket => "websocket",
            TransportKind::Memory => "memory",
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What is known about a connection when it is established.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The carrying transport.
    pub kind: TransportKind,
    /// The peer's address, where the transport has one.
    pub peer_addr: Option<SocketAddr>,
}

impl ConnectionInfo {
    /// Describes a connection.
    pub fn new(kind: TransportKind, peer_addr: Option<SocketAddr>) -> Self {
        Self { kind, peer_addr }
    }
}

/// What is known of a connection's network path right now. A transport fills in what it
/// measures; the rest stays `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PathStats {
    /// The round trip: the transport's smoothed estimate where it keeps one (QUIC), else the
    /// last heartbeat's ping to pong, which also counts the time both ends' queues held them.
    pub rtt: Option<Duration>,
    /// Bytes the sender may have in flight unacknowledged: it shrinks when packets are lost,
    /// and caps throughput at about one window per round trip.
    pub congestion_window: Option<u64>,
    /// Packets sent on the path since the connection opened.
    pub sent_packets: Option<u64>,
    /// Of those, the ones the transport declared lost: against `sent_packets`, the loss rate.
    pub lost_packets: Option<u64>,
    /// The largest UDP payload the path carries now, as path MTU discovery found it.
    pub mtu: Option<u16>,
}

/// Reads a connection's path statistics for as long as the connection lives, after
/// [`Connection::split`] took it apart.
pub trait PathProbe: Send + Sync + 'static {
    /// The statistics now.
    fn path_stats(&self) -> PathStats;

    /// The peer's address now, for a transport whose connection follows its peer to a new
    /// address (QUIC's migration, a NAT that rebinds). `None`, the default, leaves the
    /// address the connection came from.
    fn peer_addr(&self) -> Option<SocketAddr> {
        None
    }
}

/// One frame received from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Incoming {
    /// A frame from the reliable, ordered channel: channel 0.
    Frame(Bytes),
    /// A frame that arrived as an unreliable datagram.
    Datagram(Bytes),
    /// A frame from one of the server's other ordered channels, numbered from 1 (PROTOCOL.md
    /// section 2.2): ordered within its channel, not with the rest.
    Channel(u16, Bytes),
    /// The one frame of a single-frame stream (PROTOCOL.md section 2.3): in no order with
    /// anything else.
    Alone(Bytes),
}

impl Incoming {
    /// The frame's size in bytes.
    pub fn size(&self) -> usize {
        match self {
            Incoming::Frame(bytes)
            | Incoming::Datagram(bytes)
            | Incoming::Channel(_, bytes)
            | Incoming::Alone(bytes) => bytes.len(),
        }
    }
}

/// A transport failure. It names no dependency's types, so transports can change underneath.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The peer closed the connection, or it was closed locally.
    #[error("connection closed")]
    Closed,
    /// The peer declared or sent a frame above the receiver's maximum; nothing was buffered.
    #[error("frame of {declared} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// The size the peer declared or sent.
        declared: u64,
        /// The receiver's limit.
        max: usize,
    },
    /// A datagram is larger than the path allows right now.
    #[error("datagram of {size} bytes exceeds the path's limit of {max}")]
    DatagramTooLarge {
        /// The datagram's size.
        size: usize,
        /// The current limit.
        max: usize,
    },
    /// The peer closed the connection and said why (a QUIC application close code, a
    /// WebSocket close frame).
    #[error("closed by the peer ({reason}): {message}")]
    PeerClosed {
        /// The peer's reason.
        reason: DisconnectReason,
        /// The peer's explanation.
        message: String,
    },
    /// The bytes on the channel are not well-formed framing.
    #[error("malformed framing: {0}")]
    Malformed(String),
    /// Connecting failed, or the handshake of the transport itself did.
    #[error("cannot connect: {what}")]
    Connect {
        /// What was being opened, where, and at which step it failed.
        what: String,
        /// The error beneath, from the operating system, TLS or the transport's library,
        /// where there is one. Boxed, so that no dependency's type is part of this enum.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// An I/O error from the operating system.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl TransportError {
    /// A [`TransportError::Connect`] that says what failed, with nothing beneath.
    pub fn connect(what: impl Into<String>) -> Self {
        Self::Connect {
            what: what.into(),
            source: None,
        }
    }

    /// A [`TransportError::Connect`] that says what failed, with the error beneath as its
    /// source.
    pub fn connect_from(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Connect {
            what: what.into(),
            source: Some(source.into()),
        }
    }
}

/// Accepts connections. Server transports implement it.
pub trait Listener: Send + 'static {
    /// The connections it yields.
    type Connection: Connection;

    /// Waits for the next established connection.
    ///
    /// A failed handshake of one peer MUST NOT surface here: the listener logs it and keeps
    /// accepting. An error means the listener itself can accept no more.
    fn accept(&mut self) -> impl Future<Output = Result<Self::Connection, TransportError>> + Send;

    /// The address it listens on, where it has one.
    fn local_addr(&self) -> Option<SocketAddr>;
}

/// Opens connections. Client transports implement it.
pub trait Connector: Send + Sync + 'static {
    /// The connections it opens.
    type Connection: Connection;

    /// Opens one connection.
    fn connect(&self) -> impl Future<Output = Result<Self::Connection, TransportError>> + Send;
}

/// An established connection, before core takes it apart.
pub trait Connection: Send + 'static {
    /// The receiving half.
    type Reader: FrameReader;
    /// The sending half for reliable frames.
    type Writer: FrameWriter;

    /// What is known about the connection.
    fn info(&self) -> ConnectionInfo;

    /// Where the transport measures its path (round trip, congestion window, loss, MTU), for
    /// [`Socket::path_stats`](crate::Socket::path_stats). `None`, the default, for a transport
    /// that measures nothing of its own: the heartbeat's round trip is all that is known.
    fn path_probe(&self) -> Option<Arc<dyn PathProbe>> {
        None
    }

    /// How many ordered channels beside channel 0 the server may open on this connection
    /// (PROTOCOL.md section 2.2): a transport whose connection carries independent streams
    /// says how many it accepts. 0, the default, for one ordered channel.
    fn max_channels(&self) -> u16 {
        0
    }

    /// Splits into halves. The reader MUST refuse frames above `max_frame_size` with
    /// [`TransportError::FrameTooLarge`] before buffering them.
    fn split(
        self,
        max_frame_size: usize,
    ) -> (Self::Reader, Self::Writer, Option<Arc<dyn DatagramSender>>);
}

/// Receives frames.
pub trait FrameReader: Send + 'static {
    /// Waits for the next frame. `Err(Closed)` once the connection is gone.
    ///
    /// MUST be cancel safe: core polls it in a `select!` and drops it when another branch wins.
    fn recv(&mut self) -> impl Future<Output = Result<Incoming, TransportError>> + Send;
}

/// Sends reliable frames in order.
///
/// Core calls it from one task only, and never drops a `send` future before it completes
/// unless the connection is being abandoned.
pub trait FrameWriter: Send + 'static {
    /// Queues one frame for sending, waiting while the transport applies backpressure.
    fn send(&mut self, frame: Bytes) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Queues one frame on ordered channel `channel`, numbered from 1, which the server
    /// opens on first use. Core calls it only on a connection whose
    /// [`Connection::max_channels`] was at least `channel`, and only on the server; the
    /// default sends on channel 0, which keeps every channel's order.
    fn send_on(
        &mut self,
        channel: u16,
        frame: Bytes,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        let _ = channel;
        self.send(frame)
    }

    /// Sends one frame on a stream of its own, which the server opens (PROTOCOL.md section
    /// 2.3), so that a lost packet holds back this frame alone. A frame with a `supersedes`
    /// key replaces the last one sent with the same key: the transport may reset that one's
    /// stream if it is still unacknowledged. Core calls it only on the server, on a connection
    /// granted channels and the delivery classes; the default sends on channel 0.
    fn send_alone(
        &mut self,
        frame: Bytes,
        supersedes: Option<u64>,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        let _ = supersedes;
        self.send(frame)
    }

    /// Pushes out whatever `send` buffered. Core calls it when its own queue runs empty.
    fn flush(&mut self) -> impl Future<Output = Result<(), TransportError>> + Send {
        async { Ok(()) }
    }

    /// Closes the connection with a reason the transport may pass on (a WebSocket close code,
    /// a QUIC application error code).
    fn close(&mut self, reason: DisconnectReason, message: &str)
    -> impl Future<Output = ()> + Send;
}

/// Sends unreliable datagrams without waiting. Shared by every task that emits to the socket.
pub trait DatagramSender: Send + Sync + 'static {
    /// The largest datagram the path takes right now.
    fn max_size(&self) -> usize;

    /// Sends one frame as a datagram, or fails at once. Delivery is not guaranteed.
    fn send(&self, frame: Bytes) -> Result<(), TransportError>;

    /// Whether a volatile frame larger than [`DatagramSender::max_size`] is an error for the
    /// emitter (`true`), or takes the reliable channel unless it is congested (`false`, the
    /// default). WebTransport says `true`: a browser drops oversized datagrams without a trace,
    /// so the application must learn about them.
    fn rejects_oversize(&self) -> bool {
        false
    }
}
