//! Ordered channels beside the reliable stream (PROTOCOL.md section 2.2): unidirectional
//! streams the server opens, one per channel, each starting with its channel's number.
//!
//! A packet lost on one channel's stream holds back that stream alone; the others are read on.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use quicket_core::transport::TransportError;
use quicket_proto::FrameSplitter;
use quicket_proto::framing::{MAX_PREFIX_LEN, write_length_prefix};
use wtransport::error::ConnectionError;
use wtransport::{RecvStream, SendStream, VarInt};

/// Most bytes read from one channel's stream per poll.
const READ_CHUNK: usize = 16 * 1024;

/// After a goodbye, how long a channel stream the server opened before it may take to show up.
/// The server waited for the client to acknowledge every channel's data before it said
/// goodbye, so the streams are already here; only the HTTP/3 layer may still be routing them.
const LATE_STREAM_GRACE: Duration = Duration::from_millis(50);

/// Single-frame streams whose acknowledgement a goodbye waits for, at most; past it the
/// oldest are no longer waited for.
const MAX_UNACKED_ALONE: usize = 256;

/// The server's side: a stream per channel, opened on first use, with its write batch; and
/// the single-frame streams of the delivery classes (PROTOCOL.md section 2.3).
pub(crate) struct ChannelWriters {
    session: wtransport::Connection,
    /// Index `channel - 1`.
    streams: Vec<Option<ChannelOut>>,
    batch_limit: usize,
    /// Single-frame streams sent and perhaps not yet acknowledged, oldest first, with the key
    /// of the latest value each carries: a newer value of the key resets its stream.
    alone: VecDeque<(Option<u64>, SendStream)>,
}

struct ChannelOut {
    send: SendStream,
    batch: BytesMut,
}

impl ChannelWriters {
    pub(crate) fn new(session: wtransport::Connection, batch_limit: usize) -> Self {
        Self {
            session,
            streams: Vec::new(),
            batch_limit,
            alone: VecDeque::new(),
        }
    }

    /// Sends `frame` alone on a new stream, resetting the stream of the value it supersedes.
    pub(crate) async fn send_alone(
        &mut self,
        frame: &Bytes,
        supersedes: Option<u64>,
    ) -> Result<(), TransportError> {
        if let Some(key) = supersedes
            && let Some(index) = self.alone.iter().position(|(k, _)| *k == Some(key))
            && let Some((_, mut stale)) = self.alone.remove(index)
        {
            // Already acknowledged, it cannot be reset; nothing is lost either way.
            let _acknowledged = stale.reset(VarInt::from_u32(0));
        }
        let opening = self.session.open_uni().await.map_err(closed)?;
        let mut send = opening.await.map_err(|_| TransportError::Closed)?;
        let mut prefix = [0u8; MAX_PREFIX_LEN];
        let prefix_len = write_length_prefix(frame.len(), &mut prefix);
        let mut bytes = BytesMut::with_capacity(1 + prefix_len + frame.len());
        // Channel number 0: a single-frame stream.
        bytes.extend_from_slice(&[0]);
        bytes.extend_from_slice(&prefix[..prefix_len]);
        bytes.extend_from_slice(frame);
        send.write_all(&bytes)
            .await
            .map_err(|_| TransportError::Closed)?;
        // quinn's own finish, which does not wait for the acknowledgement as wtransport's does.
        let _finished = send.quic_stream_mut().finish();
        if self.alone.len() >= MAX_UNACKED_ALONE {
            self.alone.pop_front();
        }
        self.alone.push_back((supersedes, send));
        Ok(())
    }

    /// Queues `frame` on `channel`'s stream, opening it first if need be.
    pub(crate) async fn send(&mut self, channel: u16, frame: &Bytes) -> Result<(), TransportError> {
        let index = usize::from(channel.max(1)) - 1;
        if self.streams.len() <= index {
            self.streams.resize_with(index + 1, || None);
        }
        if self.streams[index].is_none() {
            self.streams[index] = Some(self.open(channel).await?);
        }
        let Some(out) = self.streams[index].as_mut() else {
            return Err(TransportError::Closed);
        };
        let mut prefix = [0u8; MAX_PREFIX_LEN];
        let prefix_len = write_length_prefix(frame.len(), &mut prefix);
        out.batch.extend_from_slice(&prefix[..prefix_len]);
        out.batch.extend_from_slice(frame);
        if out.batch.len() >= self.batch_limit {
            out.write().await?;
        }
        Ok(())
    }

    async fn open(&self, channel: u16) -> Result<ChannelOut, TransportError> {
        let opening = self.session.open_uni().await.map_err(closed)?;
        let send = opening.await.map_err(|_| TransportError::Closed)?;
        let mut batch = BytesMut::new();
        let mut header = [0u8; MAX_PREFIX_LEN];
        // A `u16` varint is written like a length prefix (PROTOCOL.md section 4).
        let header_len = write_length_prefix(usize::from(channel), &mut header);
        batch.extend_from_slice(&header[..header_len]);
        Ok(ChannelOut { send, batch })
    }

    /// Writes out every channel's batch.
    pub(crate) async fn flush(&mut self) -> Result<(), TransportError> {
        for out in self.streams.iter_mut().flatten() {
            out.write().await?;
        }
        Ok(())
    }

    /// Ends every channel's stream and waits until the client has acknowledged all of it:
    /// what it reads after our goodbye is then already on its side.
    pub(crate) async fn finish(&mut self) {
        for out in self.streams.iter_mut().flatten() {
            if out.write().await.is_ok() {
                let _gone = out.send.finish().await;
            }
        }
        self.streams.clear();
        for (_, mut send) in self.alone.drain(..) {
            let _gone = send.finish().await;
        }
    }
}

impl ChannelOut {
    async fn write(&mut self) -> Result<(), TransportError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = self.batch.split();
        self.send
            .write_all(&batch)
            .await
            .map_err(|_| TransportError::Closed)
    }
}

fn closed(_: ConnectionError) -> TransportError {
    TransportError::Closed
}

/// A stream being accepted: `Err` when the session closes, or when wtransport's driver task
/// is gone without a result (its runtime shutting down), which it reports by panicking.
type Accepting = Pin<Box<dyn Future<Output = Result<RecvStream, ()>> + Send>>;

/// The client's side: the channel streams the server opened, read as their bytes come.
pub(crate) struct ChannelReaders {
    session: wtransport::Connection,
    accepting: Option<Accepting>,
    streams: Vec<ChannelIn>,
    /// Where the next poll starts, so that a busy channel does not starve the others.
    next: usize,
    /// The channels whose stream came, each once.
    seen: Vec<u16>,
    /// Whether the session stopped giving streams.
    closing: bool,
    splitter: FrameSplitter,
}

struct ChannelIn {
    /// `None` until the stream's header is read; 0 for a single-frame stream.
    channel: Option<u16>,
    /// For a single-frame stream, whether its frame was taken.
    taken: bool,
    /// Whether its channel is among those seen.
    counted: bool,
    recv: RecvStream,
    buffer: BytesMut,
    finished: bool,
}

impl ChannelReaders {
    pub(crate) fn new(session: wtransport::Connection, max_frame_size: usize) -> Self {
        Self {
            session,
            accepting: None,
            streams: Vec::new(),
            next: 0,
            seen: Vec::new(),
            closing: false,
            splitter: FrameSplitter::new(max_frame_size),
        }
    }

    /// A frame already read off some channel's stream, without touching the network: the
    /// reader takes these before it waits on the session, so a burst read in one chunk costs
    /// no poll of QUIC per frame.
    pub(crate) fn buffered(&mut self) -> Result<Option<(u16, Bytes)>, TransportError> {
        let count = self.streams.len();
        for step in 0..count {
            let index = (self.next + step) % count;
            let stream = &mut self.streams[index];
            let Some(channel) = stream.channel.filter(|c| *c == 0 || stream.counted) else {
                continue;
            };
            if let Some(frame) = stream.split(&self.splitter)? {
                self.next = index + 1;
                return Ok(Some((channel, frame)));
            }
        }
        Ok(None)
    }

    /// The next frame from any channel. Cancel safe: what was read stays buffered.
    pub(crate) async fn next(&mut self) -> Result<(u16, Bytes), TransportError> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// The next frame of a channel after the server's goodbye, or `None` once every stream
    /// opened so far is read to its end and no other shows up within a short grace.
    pub(crate) async fn drain(
        &mut self,
        patience: Duration,
    ) -> Result<Option<(u16, Bytes)>, TransportError> {
        let ended = self.streams.iter().all(|stream| stream.finished);
        // A stream still open after the goodbye has its end on the way: wait for it, within
        // the close's own bound.
        let wait = if ended { LATE_STREAM_GRACE } else { patience };
        match tokio::time::timeout(wait, self.next()).await {
            Ok(next) => next.map(Some),
            Err(_quiet) => Ok(None),
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<(u16, Bytes), TransportError>> {
        self.poll_accept(cx);
        let count = self.streams.len();
        for step in 0..count {
            let index = (self.next + step) % count;
            let stream = &mut self.streams[index];
            let polled = stream.poll_frame(cx, &self.splitter);
            if let (Some(channel @ 1..), false) = (stream.channel, stream.counted) {
                if self.seen.contains(&channel) {
                    return Poll::Ready(Err(malformed("a second stream for one channel")));
                }
                self.seen.push(channel);
                stream.counted = true;
            }
            if let Poll::Ready(ready) = polled {
                self.next = index + 1;
                return Poll::Ready(ready);
            }
        }
        self.streams
            .retain(|stream| !stream.finished || !stream.buffer.is_empty());
        Poll::Pending
    }

    /// Takes in every stream the server opened so far.
    fn poll_accept(&mut self, cx: &mut Context<'_>) {
        while !self.closing {
            // Cloned only when a new accept starts, not on every poll of the reader.
            let session = &self.session;
            let accepting = self
                .accepting
                .get_or_insert_with(|| Box::pin(accept_uni(session.clone())));
            match accepting.as_mut().poll(cx) {
                Poll::Ready(Ok(recv)) => {
                    self.accepting = None;
                    self.streams.push(ChannelIn {
                        channel: None,
                        taken: false,
                        counted: false,
                        recv,
                        buffer: BytesMut::new(),
                        finished: false,
                    });
                }
                // The session is closing; the reliable stream reports why.
                Poll::Ready(Err(_)) => {
                    self.accepting = None;
                    self.closing = true;
                }
                Poll::Pending => return,
            }
        }
    }
}

async fn accept_uni(session: wtransport::Connection) -> Result<RecvStream, ()> {
    let accepting = AssertUnwindSafe(async move { session.accept_uni().await });
    match accepting.catch_unwind().await {
        Ok(accepted) => accepted.map_err(drop),
        Err(_panic) => Err(()),
    }
}

impl ChannelIn {
    /// A whole frame of this stream, an error, or `Pending` once it has no more bytes now.
    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
        splitter: &FrameSplitter,
    ) -> Poll<Result<(u16, Bytes), TransportError>> {
        loop {
            if let Some(channel) = self.channel {
                match self.split(splitter) {
                    Ok(Some(frame)) => return Poll::Ready(Ok((channel, frame))),
                    Ok(None) => {}
                    Err(err) => return Poll::Ready(Err(err)),
                }
            } else if let Some(header) = self.header() {
                match header {
                    Ok(channel) => self.channel = Some(channel),
                    Err(err) => return Poll::Ready(Err(err)),
                }
                continue;
            }
            if self.finished {
                if self.buffer.is_empty() {
                    return Poll::Pending;
                }
                let message = "a channel's stream ended inside a frame";
                return Poll::Ready(Err(TransportError::Malformed(message.to_owned())));
            }
            // A fresh `read_chunk` per poll is cancel safe: it takes nothing unless it completes.
            let read = {
                let chunk = self.recv.quic_stream_mut().read_chunk(READ_CHUNK, true);
                std::pin::pin!(chunk).poll(cx)
            };
            match read {
                Poll::Ready(Ok(Some(chunk))) => self.take(&chunk.bytes, splitter),
                Poll::Ready(Ok(None)) => self.finished = true,
                // Reset, or the session is closing: nothing more will come on this channel.
                Poll::Ready(Err(_)) => {
                    self.finished = true;
                    self.buffer.clear();
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Appends a chunk read off the stream. Frames split off share the buffer's allocation, so
    /// an emptied buffer starts a fresh one sized to need, as the reliable stream's reader
    /// does: growing the old one would copy into a new allocation of its whole capacity.
    fn take(&mut self, chunk: &[u8], splitter: &FrameSplitter) {
        if self.buffer.is_empty() {
            self.buffer = BytesMut::new();
        }
        let missing = splitter.missing(&self.buffer).unwrap_or(0);
        self.buffer.reserve(missing.max(chunk.len()));
        self.buffer.extend_from_slice(chunk);
    }

    /// The next whole frame in the buffer, if there is one.
    fn split(&mut self, splitter: &FrameSplitter) -> Result<Option<Bytes>, TransportError> {
        let frame = splitter.split(&mut self.buffer).map_err(|err| match err {
            quicket_proto::DecodeError::FrameTooLarge { declared, max } => {
                TransportError::FrameTooLarge { declared, max }
            }
            err => TransportError::Malformed(err.to_string()),
        })?;
        if frame.is_some() && self.channel == Some(0) {
            if self.taken {
                return Err(malformed("a single-frame stream with a second frame"));
            }
            self.taken = true;
        }
        Ok(frame)
    }

    /// The stream's channel number, once its varint is here (PROTOCOL.md section 2.2).
    fn header(&mut self) -> Option<Result<u16, TransportError>> {
        let first = *self.buffer.first()?;
        let (channel, used) = match first {
            0..=250 => (u16::from(first), 1),
            0xFB if self.buffer.len() >= 3 => {
                let value = u16::from_le_bytes([self.buffer[1], self.buffer[2]]);
                if value <= 250 {
                    return Some(Err(malformed("a channel number not in its shortest form")));
                }
                (value, 3)
            }
            0xFB => return None,
            _ => return Some(Err(malformed("a channel stream without a channel number"))),
        };
        let _header = self.buffer.split_to(used);
        Some(Ok(channel))
    }
}

fn malformed(message: &str) -> TransportError {
    TransportError::Malformed(message.to_owned())
}

#[cfg(test)]
mod tests;
