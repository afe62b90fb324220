//! One WebTransport session as a core connection: reliable frames on one bidirectional
//! stream with length prefixes, volatile frames as datagrams.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use quicket_core::DisconnectReason;
use quicket_core::transport::{
    Connection, ConnectionInfo, DatagramSender, FrameReader, FrameWriter, Incoming, PathProbe,
    PathStats, TransportError, TransportKind,
};
use quicket_proto::framing::{MAX_PREFIX_LEN, write_length_prefix};
use quicket_proto::{FrameSplitter, Tag};
use wtransport::error::{ConnectionError, SendDatagramError};
use wtransport::proto::ids::QStreamId;
use wtransport::{RecvStream, SendStream};

use crate::channels::{ChannelReaders, ChannelWriters};
use crate::close::{close_code, close_reason};
use crate::config::QuicLimits;

/// Most bytes taken from the stream per read, unless a frame needs more. Reads take quinn's
/// own chunks, so no read buffer is held while the session is idle.
const READ_CHUNK: usize = 16 * 1024;

/// Frames are batched up to this many bytes per stream write. quinn keeps every write as its
/// own chunk until the peer acknowledges it and walks those chunks to build each packet, so a
/// burst of small writes (a resumed session's replay) would cost time quadratic in its length.
const WRITE_BATCH: usize = 64 * 1024;

/// An established WebTransport session with its reliable stream.
pub struct QuicConnection {
    pub(crate) session: wtransport::Connection,
    send: SendStream,
    recv: RecvStream,
    side: Side,
    close_timeout: Duration,
    goodbye_linger: Duration,
    max_incoming_datagram: usize,
    max_uni_streams: u32,
}

/// Which end of the session this is: the server opens channel streams, the client reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

/// Unidirectional streams HTTP/3 keeps for itself on each side: control and QPACK's two.
const HTTP3_UNI_STREAMS: u32 = 3;

impl QuicConnection {
    pub(crate) fn new(
        session: wtransport::Connection,
        (send, recv): (SendStream, RecvStream),
        limits: &QuicLimits,
        side: Side,
    ) -> Self {
        Self {
            session,
            send,
            recv,
            side,
            close_timeout: limits.close_timeout,
            goodbye_linger: limits.goodbye_linger,
            max_incoming_datagram: limits.max_incoming_datagram,
            max_uni_streams: limits.max_uni_streams,
        }
    }
}

impl Connection for QuicConnection {
    type Reader = QuicReader;
    type Writer = QuicWriter;

    fn info(&self) -> ConnectionInfo {
        ConnectionInfo::new(
            TransportKind::WebTransport,
            Some(canonical(self.session.remote_address())),
        )
    }

    fn path_probe(&self) -> Option<Arc<dyn PathProbe>> {
        Some(Arc::new(QuicPath(self.session.clone())))
    }

    /// A server may open as many channel streams as its client allows, and grants no more
    /// than the client offers; a client takes as many as its stream limit leaves to it.
    fn max_channels(&self) -> u16 {
        match self.side {
            Side::Server => u16::MAX,
            Side::Client => {
                let left = self.max_uni_streams.saturating_sub(HTTP3_UNI_STREAMS);
                u16::try_from(left).unwrap_or(u16::MAX)
            }
        }
    }

    fn split(
        self,
        max_frame_size: usize,
    ) -> (QuicReader, QuicWriter, Option<Arc<dyn DatagramSender>>) {
        let datagrams = datagram_limit(&self.session).map(|_| {
            Arc::new(QuicDatagrams {
                session: self.session.clone(),
            }) as Arc<dyn DatagramSender>
        });
        let channels = (self.side == Side::Client)
            .then(|| Box::new(ChannelReaders::new(self.session.clone(), max_frame_size)));
        let reader = QuicReader {
            session: self.session.clone(),
            recv: self.recv,
            buffer: BytesMut::new(),
            splitter: FrameSplitter::new(max_frame_size),
            max_datagram: self.max_incoming_datagram,
            channels,
            welcomed: false,
            goodbye: None,
            drain_patience: self.close_timeout,
        };
        let writer = QuicWriter {
            channels: ChannelWriters::new(self.session.clone(), WRITE_BATCH),
            session: self.session,
            send: self.send,
            batch: BytesMut::new(),
            last_words: LastWords::None,
            close_timeout: self.close_timeout,
            goodbye_linger: self.goodbye_linger,
        };
        (reader, writer, datagrams)
    }
}

/// The largest datagram payload the session takes now; `None` without datagrams.
///
/// Computed from quinn's limit with a checked subtraction: wtransport's own subtracts
/// unchecked, and a peer advertising a tiny datagram frame size would underflow it.
fn datagram_limit(session: &wtransport::Connection) -> Option<usize> {
    let header = QStreamId::from_session_id(session.session_id())
        .into_varint()
        .size();
    let quic = session.quic_connection().max_datagram_size()?;
    quic.checked_sub(header).filter(|limit| *limit > 0)
}

/// Reads quinn's statistics of the session's QUIC connection.
struct QuicPath(wtransport::Connection);

impl PathProbe for QuicPath {
    fn path_stats(&self) -> PathStats {
        let path = self.0.quic_connection().stats().path;
        let mut stats = PathStats::default();
        stats.rtt = Some(path.rtt);
        stats.congestion_window = Some(path.cwnd);
        stats.sent_packets = Some(path.sent_packets);
        stats.lost_packets = Some(path.lost_packets);
        stats.mtu = Some(path.current_mtu);
        stats
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        Some(canonical(self.0.remote_address()))
    }
}

/// IPv4 peers of a dual-stack socket show up as `::ffff:a.b.c.d`; report them as IPv4.
pub(crate) fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => addr,
        },
        v4 => v4,
    }
}

/// Receives length-prefixed frames from the stream and datagrams from the session; on a
/// client, also the frames of the server's channel streams.
pub struct QuicReader {
    session: wtransport::Connection,
    recv: RecvStream,
    buffer: BytesMut,
    splitter: FrameSplitter,
    max_datagram: usize,
    channels: Option<Box<ChannelReaders>>,
    /// Whether the reliable stream's first frame, the server's answer to our `Hello`, was
    /// read: no channel's frame may come before it (PROTOCOL.md section 2.2).
    welcomed: bool,
    /// The server's `Disconnect`, held until every channel has been read to its end.
    goodbye: Option<Bytes>,
    drain_patience: Duration,
}

impl FrameReader for QuicReader {
    async fn recv(&mut self) -> Result<Incoming, TransportError> {
        let Self {
            session,
            recv,
            buffer,
            splitter,
            max_datagram,
            channels,
            welcomed,
            goodbye,
            drain_patience,
        } = self;
        loop {
            if let (Some(channels), Some(_)) = (channels.as_mut(), goodbye.as_ref()) {
                if let Some((channel, frame)) = channels.drain(*drain_patience).await? {
                    return Ok(on_channel(channel, frame));
                }
                let last = goodbye.take().unwrap_or_default();
                return Ok(Incoming::Frame(last));
            }
            if let Some(channels) = channels.as_mut().filter(|_| *welcomed)
                && let Some((channel, frame)) = channels.buffered()?
            {
                return Ok(on_channel(channel, frame));
            }
            match splitter.split(buffer) {
                Ok(Some(frame)) if *welcomed && channels.is_some() && is_goodbye(&frame) => {
                    *goodbye = Some(frame);
                    continue;
                }
                Ok(Some(frame)) => {
                    *welcomed = true;
                    return Ok(Incoming::Frame(frame));
                }
                Ok(None) => {}
                Err(quicket_proto::DecodeError::FrameTooLarge { declared, max }) => {
                    return Err(TransportError::FrameTooLarge { declared, max });
                }
                Err(err) => return Err(TransportError::Malformed(err.to_string())),
            }
            if buffer.is_empty() {
                // Frames split off share the old allocation; an idle session holds none.
                *buffer = BytesMut::new();
            }
            let missing = splitter.missing(buffer).unwrap_or(0);
            let limit = missing.max(READ_CHUNK);
            // Both branches are cancel safe: `read_chunk` takes nothing unless it completes.
            tokio::select! {
                read = recv.quic_stream_mut().read_chunk(limit, true) => match read {
                    Ok(Some(chunk)) => {
                        // A large frame grows the buffer once, not by doubling.
                        buffer.reserve(missing.max(chunk.bytes.len()));
                        buffer.extend_from_slice(&chunk.bytes);
                    }
                    Ok(None) | Err(_) => return Err(why_closed(session).await),
                },
                datagram = session.receive_datagram() => match datagram {
                    Ok(datagram) if datagram.payload().len() > *max_datagram => {
                        tracing::debug!(
                            size = datagram.payload().len(),
                            max = *max_datagram,
                            "datagram above the advertised size discarded"
                        );
                    }
                    Ok(datagram) => return Ok(Incoming::Datagram(datagram.payload())),
                    Err(err) => return Err(session_error(err)),
                },
                next = next_on_channels(channels), if *welcomed && channels.is_some() => {
                    let (channel, frame) = next?;
                    return Ok(on_channel(channel, frame));
                }
            }
        }
    }
}

/// A frame off a stream the server opened: channel 0's is a single-frame stream's.
fn on_channel(channel: u16, frame: Bytes) -> Incoming {
    match channel {
        0 => Incoming::Alone(frame),
        channel => Incoming::Channel(channel, frame),
    }
}

/// The next frame of the server's channels; never, without them.
async fn next_on_channels(
    channels: &mut Option<Box<ChannelReaders>>,
) -> Result<(u16, Bytes), TransportError> {
    match channels {
        Some(channels) => channels.next().await,
        None => std::future::pending().await,
    }
}

fn is_goodbye(frame: &Bytes) -> bool {
    frame.first() == Some(&(Tag::Disconnect as u8))
}

/// Whether a goodbye names a dropped path rather than an ending the application chose.
fn is_drop(frame: &Bytes) -> bool {
    matches!(
        quicket_proto::codec::decode(frame),
        Ok(quicket_proto::Frame::Disconnect(
            quicket_proto::Disconnect {
                reason: DisconnectReason::TransportClosed | DisconnectReason::PingTimeout,
                ..
            }
        ))
    )
}

/// Why the stream broke: the session's close reason if it is closing, else a plain close.
async fn why_closed(session: &wtransport::Connection) -> TransportError {
    match tokio::time::timeout(Duration::from_millis(50), session.closed()).await {
        Ok(err) => session_error(err),
        Err(_still_open) => TransportError::Closed,
    }
}

/// Maps how a session ended to core's terms, keeping a quicket peer's reason.
fn session_error(err: ConnectionError) -> TransportError {
    match err {
        ConnectionError::ApplicationClosed(close) => match close_reason(close.code()) {
            Some(reason) => TransportError::PeerClosed {
                reason,
                message: String::from_utf8_lossy(close.reason()).into_owned(),
            },
            None => TransportError::Closed,
        },
        _ => TransportError::Closed,
    }
}

/// Writes length-prefixed frames to the stream, batched until the driver flushes; on a
/// server, also to the channel streams it opens.
pub struct QuicWriter {
    channels: ChannelWriters,
    session: wtransport::Connection,
    send: SendStream,
    batch: BytesMut,
    /// What the last frame told the peer, which it must read before we close.
    last_words: LastWords,
    close_timeout: Duration,
    goodbye_linger: Duration,
}

impl QuicWriter {
    async fn write_batch(&mut self) -> Result<(), TransportError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = self.batch.split();
        match self.send.write_all(&batch).await {
            Ok(()) => Ok(()),
            Err(_) => Err(why_closed(&self.session).await),
        }
    }
}

impl FrameWriter for QuicWriter {
    async fn send(&mut self, frame: Bytes) -> Result<(), TransportError> {
        if is_goodbye(&frame) && !is_drop(&frame) {
            // Every channel's events reach the client before it reads the goodbye. Not over
            // a path presumed dead: nothing would acknowledge them.
            let _late = tokio::time::timeout(self.close_timeout, self.channels.finish()).await;
        }
        let mut prefix = [0u8; MAX_PREFIX_LEN];
        let prefix_len = write_length_prefix(frame.len(), &mut prefix);
        self.batch.extend_from_slice(&prefix[..prefix_len]);
        self.batch.extend_from_slice(&frame);
        self.last_words = match frame.first().copied().and_then(Tag::from_byte) {
            Some(Tag::Disconnect) => LastWords::Disconnect,
            Some(Tag::Reject) => LastWords::Reject,
            _ => LastWords::None,
        };
        if self.batch.len() >= WRITE_BATCH {
            self.write_batch().await?;
        }
        Ok(())
    }

    async fn send_on(&mut self, channel: u16, frame: Bytes) -> Result<(), TransportError> {
        self.channels.send(channel, &frame).await
    }

    async fn send_alone(
        &mut self,
        frame: Bytes,
        supersedes: Option<u64>,
    ) -> Result<(), TransportError> {
        self.channels.send_alone(&frame, supersedes).await
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        self.write_batch().await?;
        self.channels.flush().await
    }

    async fn close(&mut self, reason: DisconnectReason, message: &str) {
        // A dropped connection has no last frame worth waiting for: the path is presumed dead.
        if !matches!(
            reason,
            DisconnectReason::TransportClosed | DisconnectReason::PingTimeout
        ) {
            // A refused client has had no events: only its `Reject` must arrive.
            let polite = self.last_words != LastWords::Reject
                && matches!(
                    reason,
                    DisconnectReason::ClientDisconnect
                        | DisconnectReason::ServerDisconnect
                        | DisconnectReason::ServerShutdown
                );
            let wait = if polite {
                self.goodbye_linger
            } else {
                self.close_timeout
            };
            let deadline = tokio::time::Instant::now() + wait;
            // Closing the session discards unacknowledged stream data; give the last frames
            // (the `Disconnect` among them) time to arrive first.
            let _late = tokio::time::timeout_at(deadline, async {
                self.channels.finish().await;
                let _gone = self.write_batch().await;
                self.send.finish().await
            })
            .await;
            // Acknowledged is not yet read: a close that overtakes the peer's application
            // makes its QUIC stack discard what it buffered, events before the goodbye
            // included. The peer closes as soon as it has read our goodbye, so wait for that.
            // Only the side that said goodbye waits, or both would.
            let read_by = match self.last_words {
                LastWords::None => None,
                LastWords::Disconnect => Some(deadline),
                LastWords::Reject => {
                    let rtts = self.session.rtt() * 4 + Duration::from_millis(100);
                    Some(tokio::time::Instant::now() + rtts.min(self.close_timeout))
                }
            };
            if let Some(read_by) = read_by {
                let _peer_still_open =
                    tokio::time::timeout_at(read_by, self.session.closed()).await;
            }
        }
        self.session.close(close_code(reason), message.as_bytes());
    }
}

/// What a connection's last frame told the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LastWords {
    /// Nothing final: an event, an ack, a ping.
    None,
    /// A `Disconnect`, after which the peer closes.
    Disconnect,
    /// A `Reject` of the handshake: the peer had no session, so nothing else to read.
    Reject,
}

/// Sends datagrams on the session.
struct QuicDatagrams {
    session: wtransport::Connection,
}

impl DatagramSender for QuicDatagrams {
    fn max_size(&self) -> usize {
        datagram_limit(&self.session).unwrap_or(0)
    }

    fn send(&self, frame: Bytes) -> Result<(), TransportError> {
        self.session.send_datagram(&frame).map_err(|err| match err {
            SendDatagramError::TooLarge => TransportError::DatagramTooLarge {
                size: frame.len(),
                max: self.max_size(),
            },
            _ => TransportError::Closed,
        })
    }

    fn rejects_oversize(&self) -> bool {
        true
    }
}
