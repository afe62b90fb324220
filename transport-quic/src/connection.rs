//! One WebTransport session as a core connection: reliable frames on one bidirectional
//! stream with length prefixes, volatile frames as datagrams.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use quicket_core::DisconnectReason;
use quicket_core::transport::{
    Connection, ConnectionInfo, DatagramSender, FrameReader, FrameWriter, Incoming, TransportError,
    TransportKind,
};
use quicket_proto::FrameSplitter;
use quicket_proto::framing::{MAX_PREFIX_LEN, write_length_prefix};
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;
use wtransport::error::{ConnectionError, SendDatagramError};
use wtransport::{RecvStream, SendStream};

use crate::close::{close_code, close_reason};

/// Smallest read into the receive buffer.
const READ_CHUNK: usize = 16 * 1024;

/// An established WebTransport session.
pub struct QuicConnection {
    session: wtransport::Connection,
    streams: Streams,
    close_timeout: Duration,
}

/// The reliable stream: opened by the client up front, or accepted by the server with the
/// client's first frame (so core's handshake timeout covers a client that never sends one).
enum Streams {
    Opened(SendStream, RecvStream),
    Accept,
}

impl QuicConnection {
    pub(crate) fn opened(
        session: wtransport::Connection,
        send: SendStream,
        recv: RecvStream,
        close_timeout: Duration,
    ) -> Self {
        Self {
            session,
            streams: Streams::Opened(send, recv),
            close_timeout,
        }
    }

    pub(crate) fn accepting(session: wtransport::Connection, close_timeout: Duration) -> Self {
        Self {
            session,
            streams: Streams::Accept,
            close_timeout,
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

    fn split(
        self,
        max_frame_size: usize,
    ) -> (QuicReader, QuicWriter, Option<Arc<dyn DatagramSender>>) {
        let (recv, send) = match self.streams {
            Streams::Opened(send, recv) => (RecvHalf::Ready(recv), SendHalf::Ready(send)),
            Streams::Accept => {
                let (tx, rx) = oneshot::channel();
                (RecvHalf::Accept(Some(tx)), SendHalf::Waiting(rx))
            }
        };
        let datagrams = self.session.max_datagram_size().map(|_| {
            Arc::new(QuicDatagrams {
                session: self.session.clone(),
            }) as Arc<dyn DatagramSender>
        });
        let reader = QuicReader {
            session: self.session.clone(),
            recv,
            buffer: BytesMut::new(),
            splitter: FrameSplitter::new(max_frame_size),
        };
        let writer = QuicWriter {
            session: self.session,
            send,
            close_timeout: self.close_timeout,
        };
        (reader, writer, datagrams)
    }
}

/// IPv4 peers of a dual-stack socket show up as `::ffff:a.b.c.d`; report them as IPv4.
fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => addr,
        },
        v4 => v4,
    }
}

enum RecvHalf {
    Ready(RecvStream),
    Accept(Option<oneshot::Sender<SendStream>>),
}

enum SendHalf {
    Ready(SendStream),
    Waiting(oneshot::Receiver<SendStream>),
    Gone,
}

/// Receives length-prefixed frames from the stream and datagrams from the session.
pub struct QuicReader {
    session: wtransport::Connection,
    recv: RecvHalf,
    buffer: BytesMut,
    splitter: FrameSplitter,
}

/// The receive stream, accepting it first on the server. Cancel safe: `accept_bi` is.
async fn ready_stream<'a>(
    session: &wtransport::Connection,
    recv: &'a mut RecvHalf,
) -> Result<&'a mut RecvStream, TransportError> {
    if let RecvHalf::Accept(handoff) = recv {
        let (send, stream) = session.accept_bi().await.map_err(session_error)?;
        if let Some(handoff) = handoff.take() {
            let _writer_gone = handoff.send(send);
        }
        *recv = RecvHalf::Ready(stream);
    }
    match recv {
        RecvHalf::Ready(stream) => Ok(stream),
        RecvHalf::Accept(_) => Err(TransportError::Closed),
    }
}

impl FrameReader for QuicReader {
    async fn recv(&mut self) -> Result<Incoming, TransportError> {
        let Self {
            session,
            recv,
            buffer,
            splitter,
        } = self;
        loop {
            match splitter.split(buffer) {
                Ok(Some(frame)) => return Ok(Incoming::Frame(frame)),
                Ok(None) => {}
                Err(quicket_proto::DecodeError::FrameTooLarge { declared, max }) => {
                    return Err(TransportError::FrameTooLarge { declared, max });
                }
                Err(err) => return Err(TransportError::Malformed(err.to_string())),
            }
            buffer.reserve(splitter.missing(buffer).unwrap_or(0).max(READ_CHUNK));
            let stream = ready_stream(session, recv).await?;
            // Both branches are cancel safe: `read_buf` reads nothing unless it completes.
            tokio::select! {
                read = stream.read_buf(buffer) => match read {
                    Ok(0) => return Err(TransportError::Closed),
                    Ok(_) => {}
                    Err(_) => return Err(why_closed(session).await),
                },
                datagram = session.receive_datagram() => match datagram {
                    Ok(datagram) => return Ok(Incoming::Datagram(datagram.payload())),
                    Err(err) => return Err(session_error(err)),
                },
            }
        }
    }
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

/// Writes length-prefixed frames to the stream.
pub struct QuicWriter {
    session: wtransport::Connection,
    send: SendHalf,
    close_timeout: Duration,
}

impl QuicWriter {
    /// The send stream. On the server it exists once the reader has accepted it with the
    /// client's first frame; before that there is nothing to write on, so this fails rather
    /// than wait.
    fn stream(&mut self) -> Result<&mut SendStream, TransportError> {
        if let SendHalf::Waiting(handoff) = &mut self.send {
            match handoff.try_recv() {
                Ok(send) => self.send = SendHalf::Ready(send),
                Err(oneshot::error::TryRecvError::Empty) => return Err(TransportError::Closed),
                Err(oneshot::error::TryRecvError::Closed) => self.send = SendHalf::Gone,
            }
        }
        match &mut self.send {
            SendHalf::Ready(send) => Ok(send),
            _ => Err(TransportError::Closed),
        }
    }
}

impl FrameWriter for QuicWriter {
    async fn send(&mut self, frame: Bytes) -> Result<(), TransportError> {
        let mut prefix = [0u8; MAX_PREFIX_LEN];
        let prefix_len = write_length_prefix(frame.len(), &mut prefix);
        let stream = self.stream()?;
        stream
            .write_all(&prefix[..prefix_len])
            .await
            .map_err(|_| TransportError::Closed)?;
        stream
            .write_all(&frame)
            .await
            .map_err(|_| TransportError::Closed)
    }

    async fn close(&mut self, reason: DisconnectReason, message: &str) {
        let close_timeout = self.close_timeout;
        if let Ok(send) = self.stream() {
            // Closing the session discards unacknowledged stream data; give the last frames
            // (the `Disconnect` among them) a moment to arrive first.
            let _late = tokio::time::timeout(close_timeout, send.finish()).await;
        }
        self.session.close(close_code(reason), message.as_bytes());
    }
}

/// Sends datagrams on the session.
struct QuicDatagrams {
    session: wtransport::Connection,
}

impl DatagramSender for QuicDatagrams {
    fn max_size(&self) -> usize {
        self.session.max_datagram_size().unwrap_or(0)
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
