//! An in-process transport: bounded channels in place of a network.
//!
//! It behaves like the real ones where core can tell: reliable frames apply backpressure when
//! the peer does not read, datagrams are dropped when the peer's datagram queue is full or the
//! datagram is too large, and closing either end ends both. Tests use it; so can an application
//! that embeds a client and a server in one process.

use std::sync::Arc;

use bytes::Bytes;
use quicket_proto::DisconnectReason;
use tokio::sync::mpsc;

use super::{
    Connection, ConnectionInfo, Connector, DatagramSender, FrameReader, FrameWriter, Incoming,
    Listener, TransportError, TransportKind,
};

/// Sizes of the in-memory pipes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MemoryConfig {
    /// Reliable frames in flight per direction before `send` waits.
    pub frames_in_flight: usize,
    /// Datagrams queued per direction before more are dropped.
    pub datagrams_in_flight: usize,
    /// The datagram size limit; `None` for a transport without datagrams.
    pub max_datagram_size: Option<usize>,
    /// The ordered channels a connection carries beside channel 0 (PROTOCOL.md section 2.2),
    /// as [`Connection::max_channels`]. The pipe keeps one order for all of them, which keeps
    /// every channel's. Default 16.
    pub max_channels: u16,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            frames_in_flight: 64,
            datagrams_in_flight: 64,
            max_datagram_size: Some(1200),
            max_channels: 16,
        }
    }
}

impl MemoryConfig {
    /// Sets [`MemoryConfig::frames_in_flight`].
    pub fn frames_in_flight(mut self, frames: usize) -> Self {
        self.frames_in_flight = frames.max(1);
        self
    }

    /// Sets [`MemoryConfig::max_datagram_size`].
    pub fn max_datagram_size(mut self, size: Option<usize>) -> Self {
        self.max_datagram_size = size;
        self
    }

    /// Sets [`MemoryConfig::max_channels`].
    pub fn max_channels(mut self, channels: u16) -> Self {
        self.max_channels = channels;
        self
    }
}

/// Makes a listener and the connector that reaches it.
pub fn pipe(config: MemoryConfig) -> (MemoryListener, MemoryConnector) {
    let (tx, rx) = mpsc::channel(64);
    (
        MemoryListener { incoming: rx },
        MemoryConnector {
            listener: tx,
            config,
        },
    )
}

/// The server end: yields one [`MemoryConnection`] per [`MemoryConnector::connect`].
#[derive(Debug)]
pub struct MemoryListener {
    incoming: mpsc::Receiver<MemoryConnection>,
}

/// The client end: opens connections to its [`MemoryListener`].
#[derive(Debug, Clone)]
pub struct MemoryConnector {
    listener: mpsc::Sender<MemoryConnection>,
    config: MemoryConfig,
}

/// One end of an in-memory connection.
#[derive(Debug)]
pub struct MemoryConnection {
    frames_out: mpsc::Sender<(u16, Bytes)>,
    frames_in: mpsc::Receiver<(u16, Bytes)>,
    datagrams_out: mpsc::Sender<Bytes>,
    datagrams_in: mpsc::Receiver<Bytes>,
    max_datagram_size: Option<usize>,
    max_channels: u16,
}

impl Listener for MemoryListener {
    type Connection = MemoryConnection;

    async fn accept(&mut self) -> Result<MemoryConnection, TransportError> {
        self.incoming.recv().await.ok_or(TransportError::Closed)
    }

    fn local_addr(&self) -> Option<std::net::SocketAddr> {
        None
    }
}

impl Connector for MemoryConnector {
    type Connection = MemoryConnection;

    async fn connect(&self) -> Result<MemoryConnection, TransportError> {
        let (client, server) = MemoryConnection::pair(&self.config);
        self.listener
            .send(server)
            .await
            .map_err(|_| TransportError::connect("the in-memory listener is gone"))?;
        Ok(client)
    }
}

impl MemoryConnection {
    /// Two connected ends, with no listener involved.
    pub fn pair(config: &MemoryConfig) -> (MemoryConnection, MemoryConnection) {
        let (a_frames, b_frames_in) = mpsc::channel(config.frames_in_flight.max(1));
        let (b_frames, a_frames_in) = mpsc::channel(config.frames_in_flight.max(1));
        let (a_dgrams, b_dgrams_in) = mpsc::channel(config.datagrams_in_flight.max(1));
        let (b_dgrams, a_dgrams_in) = mpsc::channel(config.datagrams_in_flight.max(1));
        let end = |frames_out, frames_in, datagrams_out, datagrams_in| MemoryConnection {
            frames_out,
            frames_in,
            datagrams_out,
            datagrams_in,
            max_datagram_size: config.max_datagram_size,
            max_channels: config.max_channels,
        };
        (
            end(a_frames, a_frames_in, a_dgrams, a_dgrams_in),
            end(b_frames, b_frames_in, b_dgrams, b_dgrams_in),
        )
    }
}

impl Connection for MemoryConnection {
    type Reader = MemoryReader;
    type Writer = MemoryWriter;

    fn info(&self) -> ConnectionInfo {
        ConnectionInfo::new(TransportKind::Memory, None)
    }

    fn max_channels(&self) -> u16 {
        self.max_channels
    }

    fn split(
        self,
        max_frame_size: usize,
    ) -> (MemoryReader, MemoryWriter, Option<Arc<dyn DatagramSender>>) {
        let datagrams = self.max_datagram_size.map(|max| {
            Arc::new(MemoryDatagrams {
                out: self.datagrams_out,
                max,
            }) as Arc<dyn DatagramSender>
        });
        let reader = MemoryReader {
            frames: self.frames_in,
            datagrams: self.datagrams_in,
            max_frame_size,
        };
        (
            reader,
            MemoryWriter {
                frames: Some(self.frames_out),
            },
            datagrams,
        )
    }
}

/// The label of a single-frame stream's frame; channels stop far below it.
const ALONE: u16 = u16::MAX;

/// Receives frames and datagrams from the peer.
#[derive(Debug)]
pub struct MemoryReader {
    frames: mpsc::Receiver<(u16, Bytes)>,
    datagrams: mpsc::Receiver<Bytes>,
    max_frame_size: usize,
}

impl FrameReader for MemoryReader {
    async fn recv(&mut self) -> Result<Incoming, TransportError> {
        let incoming = tokio::select! {
            biased;
            frame = self.frames.recv() => frame.map(|(channel, frame)| match channel {
                0 => Incoming::Frame(frame),
                ALONE => Incoming::Alone(frame),
                channel => Incoming::Channel(channel, frame),
            }),
            Some(datagram) = self.datagrams.recv() => Some(Incoming::Datagram(datagram)),
        };
        match incoming {
            Some(Incoming::Frame(frame) | Incoming::Channel(_, frame) | Incoming::Alone(frame))
                if frame.len() > self.max_frame_size =>
            {
                Err(TransportError::FrameTooLarge {
                    declared: frame.len() as u64,
                    max: self.max_frame_size,
                })
            }
            Some(incoming) => Ok(incoming),
            None => Err(TransportError::Closed),
        }
    }
}

/// Sends reliable frames to the peer.
#[derive(Debug)]
pub struct MemoryWriter {
    frames: Option<mpsc::Sender<(u16, Bytes)>>,
}

impl FrameWriter for MemoryWriter {
    async fn send(&mut self, frame: Bytes) -> Result<(), TransportError> {
        self.send_on(0, frame).await
    }

    async fn send_on(&mut self, channel: u16, frame: Bytes) -> Result<(), TransportError> {
        let frames = self.frames.as_ref().ok_or(TransportError::Closed)?;
        let sent = frames.send((channel, frame)).await;
        sent.map_err(|_| TransportError::Closed)
    }

    async fn send_alone(
        &mut self,
        frame: Bytes,
        _supersedes: Option<u64>,
    ) -> Result<(), TransportError> {
        // The pipe loses nothing, so no stream of its own is ever held back: a label is enough.
        self.send_on(ALONE, frame).await
    }

    async fn close(&mut self, _reason: DisconnectReason, _message: &str) {
        self.frames = None;
    }
}

struct MemoryDatagrams {
    out: mpsc::Sender<Bytes>,
    max: usize,
}

impl DatagramSender for MemoryDatagrams {
    fn max_size(&self) -> usize {
        self.max
    }

    fn send(&self, frame: Bytes) -> Result<(), TransportError> {
        if frame.len() > self.max {
            return Err(TransportError::DatagramTooLarge {
                size: frame.len(),
                max: self.max,
            });
        }
        match self.out.try_send(frame) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(TransportError::Closed),
        }
    }
}
