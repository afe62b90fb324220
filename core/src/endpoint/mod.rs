//! One endpoint of a connection, as QUIC names either side: what a server-side socket and a
//! client have in common. The outbound queue, pending acks, event handlers, emitting, the
//! handshake's and the open connection's state machines, and the driver task that runs it.

pub(crate) mod acks;
pub(crate) mod backlog;
pub(crate) mod budget;
pub(crate) mod channels;
mod classed;
pub(crate) mod classes;
pub(crate) mod close;
pub(crate) mod driver;
mod emit;
pub(crate) mod greeting;
pub(crate) mod handler;
mod machine;
mod methods;
pub(crate) mod outbox;
pub(crate) mod outgoing;
pub(crate) mod rate;
pub(crate) mod replay;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use quicket_proto::{Frame, PayloadCodec, codec};

use self::acks::AckTable;
use self::channels::ChannelKey;
pub use self::classed::Classed;
use self::classes::{Freshness, MAX_REMEMBERED};
pub(crate) use self::emit::send_ack_error;
pub use self::emit::{AckSender, EmitWithAck};
pub(crate) use self::methods::endpoint_methods;
use self::outbox::{Outbox, PushError};
use self::replay::ReplayLog;
use crate::config::ConnectionLimits;
use crate::error::EmitError;
use crate::meters::{Class, Meters, VolatileDrop};
use crate::payload::IntoPayload;
use crate::transport::{ConnectionInfo, DatagramSender, PathProbe, PathStats, TransportError};

/// One session's sending side, shared by every handle to it. A resumed session keeps it and
/// swaps in the new connection's [`Link`].
pub(crate) struct SessionCore {
    pub(crate) codec: PayloadCodec,
    link: RwLock<Link>,
    pub(crate) outbox: Outbox,
    pub(crate) acks: AckTable,
    pub(crate) limits: ConnectionLimits,
    /// The largest frame the peer accepts.
    peer_max_frame_size: AtomicUsize,
    pub(crate) default_ack_timeout: Duration,
    /// The peer's reliable events handled in this session: our side of the resume offsets.
    pub(crate) received: AtomicU64,
    /// The same on the server's other channels, from channel 1: only a client counts them.
    received_on_channels: Mutex<Vec<u64>>,
    /// What the server counts; no-ops on the client.
    pub(crate) meters: Arc<Meters>,
    /// The last measured round trip in microseconds; zero until one is measured.
    rtt_micros: AtomicU64,
    last_ping: Mutex<Option<(u64, Instant)>>,
    /// The newest `Sequenced` value handled for each name and key.
    freshness: Mutex<Freshness>,
}

/// What belongs to the connection rather than the session.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) info: ConnectionInfo,
    pub(crate) datagrams: Option<Arc<dyn DatagramSender>>,
    /// Where the transport measures the path, if it does.
    pub(crate) path: Option<Arc<dyn PathProbe>>,
    /// The largest frame the peer accepts.
    pub(crate) peer_max_frame_size: usize,
    /// The channels the transport carries beside channel 0.
    pub(crate) max_channels: u16,
    /// Whether the handshake agreed the delivery classes (PROTOCOL.md section 2.3).
    pub(crate) classes: bool,
    /// Whether this end is the server's, which opens the streams.
    pub(crate) server: bool,
}

impl SessionCore {
    pub(crate) fn new(
        codec: PayloadCodec,
        link: Link,
        limits: ConnectionLimits,
        log: Option<ReplayLog>,
        default_ack_timeout: Duration,
        meters: Arc<Meters>,
    ) -> Self {
        Self {
            codec,
            outbox: Outbox::new(limits.max_queued_frames, limits.max_queued_bytes, log),
            acks: AckTable::new(limits.max_pending_acks),
            peer_max_frame_size: AtomicUsize::new(link.peer_max_frame_size),
            link: RwLock::new(link),
            limits,
            default_ack_timeout,
            received: AtomicU64::new(0),
            received_on_channels: Mutex::new(Vec::new()),
            meters,
            rtt_micros: AtomicU64::new(0),
            last_ping: Mutex::new(None),
            freshness: Mutex::new(Freshness::new(MAX_REMEMBERED)),
        }
    }

    /// The current connection's description.
    pub(crate) fn info(&self) -> ConnectionInfo {
        self.link().info.clone()
    }

    /// Where the peer is now: where the transport follows it, else where it came from.
    pub(crate) fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        let link = self.link();
        let moved = link.path.as_ref().and_then(|probe| probe.peer_addr());
        moved.or(link.info.peer_addr)
    }

    pub(crate) fn datagrams(&self) -> Option<Arc<dyn DatagramSender>> {
        self.link().datagrams.clone()
    }

    pub(crate) fn link(&self) -> std::sync::RwLockReadGuard<'_, Link> {
        // Replaced whole, never left half-written.
        self.link.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reliable events sent in this session, numbered as the peer counts them for a resume;
    /// `None` without a replay log.
    pub(crate) fn events_sent(&self) -> Option<u64> {
        self.outbox.events_numbered()
    }

    /// The peer's reliable events handled in this session on channel 0: our side of the
    /// resume offsets.
    pub(crate) fn events_received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Counts a reliable event of the peer's, handled, on its channel.
    pub(crate) fn count_received(&self, channel: u16) {
        if channel == 0 {
            self.received.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut counts = self.channel_counts();
        let index = usize::from(channel) - 1;
        if counts.len() <= index {
            counts.resize(index + 1, 0);
        }
        counts[index] += 1;
    }

    /// The server's events handled on each channel above 0 that had any, for a resume.
    pub(crate) fn channel_offsets(&self) -> Vec<quicket_proto::ChannelOffset> {
        let counts = self.channel_counts();
        (1..)
            .zip(counts.iter())
            .filter(|(_, offset)| **offset > 0)
            .map(|(channel, offset)| quicket_proto::ChannelOffset {
                channel,
                offset: *offset,
            })
            .collect()
    }

    /// A new session: nothing handled yet, on any channel.
    pub(crate) fn reset_received(&self) {
        self.received.store(0, Ordering::Relaxed);
        self.channel_counts().clear();
    }

    fn channel_counts(&self) -> std::sync::MutexGuard<'_, Vec<u64>> {
        // Counters only: no state a panic could leave half-updated.
        self.received_on_channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn peer_max_frame_size(&self) -> usize {
        self.peer_max_frame_size.load(Ordering::Relaxed)
    }

    /// A resumed session's new connection: acks may be awaited again, pings start over.
    pub(crate) fn relink(&self, link: Link) {
        self.peer_max_frame_size
            .store(link.peer_max_frame_size, Ordering::Relaxed);
        *self.link.write().unwrap_or_else(PoisonError::into_inner) = link;
        self.acks.reopen();
        self.rtt_micros.store(0, Ordering::Relaxed);
    }

    pub(crate) fn check_event_name(&self, name: &str) -> Result<(), EmitError> {
        let max = self.limits.max_event_name_len;
        if name.len() > max {
            return Err(EmitError::EventNameTooLong {
                len: name.len(),
                max,
            });
        }
        Ok(())
    }

    /// Queues an encoded control frame, or an event with an ack id.
    pub(crate) fn send_reliable(&self, frame: Bytes) -> Result<(), EmitError> {
        self.check_frame_size(&frame)?;
        self.outbox.push(frame).map_err(|err| self.push_error(err))
    }

    /// Queues an encoded event that asks for an ack.
    pub(crate) fn send_with_ack(&self, frame: Bytes) -> Result<(), EmitError> {
        let size = frame.len();
        self.send_reliable(frame)?;
        self.meters.events_out(Class::Ack, 1, size);
        Ok(())
    }

    pub(crate) fn push_error(&self, err: PushError) -> EmitError {
        match err {
            PushError::Closed => EmitError::Disconnected,
            PushError::Overflow => {
                self.meters.slow_consumers.increment(1);
                EmitError::SlowConsumer
            }
            PushError::OfflineFull => EmitError::OfflineBufferFull,
        }
    }

    /// Queues an encoded reliable event (no ack id) on channel 0; it is replayed on a resume
    /// if the peer did not handle it, and waits for one while the connection is down.
    pub(crate) fn send_event(&self, frame: Bytes) -> Result<(), EmitError> {
        let size = frame.len();
        self.send_event_at(frame, Instant::now(), None)?;
        self.meters.events_out(Class::Reliable, 1, size);
        Ok(())
    }

    /// [`SessionCore::send_event`] with the time already read, for a broadcast's recipients,
    /// on the channel of the room `key` names; the broadcast counts what it sent, once for all.
    pub(crate) fn send_event_at(
        &self,
        frame: Bytes,
        now: Instant,
        key: Option<ChannelKey>,
    ) -> Result<(), EmitError> {
        self.check_frame_size(&frame)?;
        self.outbox
            .push_event(frame, now, key)
            .map_err(|err| self.push_error(err))
    }

    pub(crate) fn check_frame_size(&self, frame: &Bytes) -> Result<(), EmitError> {
        let max = self.peer_max_frame_size();
        if frame.len() > max {
            return Err(EmitError::FrameTooLarge {
                size: frame.len(),
                max,
            });
        }
        Ok(())
    }

    /// Sends an encoded volatile frame as a datagram when it fits, else queues it unless the
    /// queue is congested. Returns whether it left for the transport; a drop is counted here,
    /// a send by the caller (a broadcast counts its sends once for all).
    pub(crate) fn send_volatile(&self, frame: Bytes) -> bool {
        let sent = self.try_volatile(frame);
        if let Err(Some(why)) = sent {
            self.meters.volatile_dropped(why);
        }
        sent.is_ok()
    }

    /// Why a volatile frame was not sent, when it is worth counting: not for a closed
    /// connection.
    fn try_volatile(&self, frame: Bytes) -> Result<(), Option<VolatileDrop>> {
        if let Some(datagrams) = &self.link().datagrams {
            if frame.len() <= datagrams.max_size() {
                return datagrams.send(frame).map_err(|err| match err {
                    TransportError::DatagramTooLarge { .. } => Some(VolatileDrop::TooLarge),
                    _ => None,
                });
            }
            if datagrams.rejects_oversize() {
                return Err(Some(VolatileDrop::TooLarge));
            }
        }
        if frame.len() > self.peer_max_frame_size() {
            return Err(Some(VolatileDrop::TooLarge));
        }
        if self.outbox.push_droppable(frame, true) {
            Ok(())
        } else if self.outbox.is_closing() {
            Err(None)
        } else {
            Err(Some(VolatileDrop::QueueFull))
        }
    }

    /// The datagram limit a volatile frame must fit, when the transport refuses larger ones.
    fn strict_datagram_limit(&self) -> Option<usize> {
        self.link()
            .datagrams
            .as_ref()
            .filter(|datagrams| datagrams.rejects_oversize())
            .map(|datagrams| datagrams.max_size())
    }

    /// Queues a control frame.
    pub(crate) fn send_frame(&self, frame: &Frame) -> Result<(), EmitError> {
        self.send_reliable(codec::encode(frame))
    }

    pub(crate) fn emit(&self, event: &str, data: &dyn IntoPayload) -> Result<(), EmitError> {
        self.check_event_name(event)?;
        let payload = data.encode(self.codec)?;
        self.send_event(codec::encode_event(event, None, &payload))
    }

    pub(crate) fn emit_volatile(
        &self,
        event: &str,
        data: &dyn IntoPayload,
    ) -> Result<(), EmitError> {
        self.check_event_name(event)?;
        let payload = data.encode(self.codec)?;
        let frame = codec::encode_event(event, None, &payload);
        self.check_frame_size(&frame)?;
        if let Some(max) = self.strict_datagram_limit()
            && frame.len() > max
        {
            self.meters.volatile_dropped(VolatileDrop::TooLarge);
            return Err(EmitError::DatagramTooLarge {
                size: frame.len(),
                max,
            });
        }
        let size = frame.len();
        if self.send_volatile(frame) {
            self.meters.events_out(Class::Volatile, 1, size);
        } else {
            tracing::trace!(event, "volatile event dropped");
        }
        Ok(())
    }

    pub(crate) fn next_ping(&self) -> Frame {
        let mut last = self
            .last_ping
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let id = last.map_or(0, |(id, _)| id.wrapping_add(1));
        *last = Some((id, Instant::now()));
        Frame::Ping(quicket_proto::Ping { id })
    }

    pub(crate) fn record_pong(&self, id: u64) {
        let last = *self
            .last_ping
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((sent_id, sent_at)) = last
            && sent_id == id
        {
            let micros = u64::try_from(sent_at.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.rtt_micros.store(micros.max(1), Ordering::Relaxed);
        }
    }

    pub(crate) fn rtt(&self) -> Option<Duration> {
        match self.rtt_micros.load(Ordering::Relaxed) {
            0 => None,
            micros => Some(Duration::from_micros(micros)),
        }
    }

    /// What the transport measures of the path, with the heartbeat's round trip where it
    /// measures none; `None` while nothing is known.
    pub(crate) fn path_stats(&self) -> Option<PathStats> {
        let measured = self.link().path.as_ref().map(|probe| probe.path_stats());
        let mut stats = measured.unwrap_or_default();
        stats.rtt = stats.rtt.or_else(|| self.rtt());
        (stats != PathStats::default()).then_some(stats)
    }

    pub(crate) fn emit_with_ack<R>(
        self: &Arc<Self>,
        event: &str,
        data: &dyn IntoPayload,
    ) -> EmitWithAck<R> {
        let prepared = self
            .check_event_name(event)
            .and_then(|()| data.encode(self.codec).map_err(EmitError::from))
            .map(|payload| (event.to_owned(), payload));
        EmitWithAck::new(Arc::clone(self), prepared, self.default_ack_timeout)
    }
}
