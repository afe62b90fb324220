//! What a server-side socket and a client have in common: the outbound queue, pending acks,
//! event handlers, emitting, and the driver task that runs the connection.

pub(crate) mod acks;
pub(crate) mod driver;
mod emit;
pub(crate) mod handler;
mod methods;
pub(crate) mod outbox;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use quicket_proto::{Frame, PayloadCodec, codec};

use self::acks::AckTable;
pub(crate) use self::emit::send_ack_error;
pub use self::emit::{AckSender, EmitWithAck, Volatile};
pub(crate) use self::methods::peer_methods;
use self::outbox::{Outbox, PushError};
use crate::config::ConnectionLimits;
use crate::error::EmitError;
use crate::payload::IntoPayload;
use crate::transport::{ConnectionInfo, DatagramSender};

/// One connection's sending side, shared by every handle to it.
pub(crate) struct PeerCore {
    pub(crate) codec: PayloadCodec,
    pub(crate) info: ConnectionInfo,
    pub(crate) outbox: Outbox,
    pub(crate) acks: AckTable,
    pub(crate) datagrams: Option<Arc<dyn DatagramSender>>,
    pub(crate) limits: ConnectionLimits,
    /// The largest frame the peer accepts.
    pub(crate) peer_max_frame_size: usize,
    pub(crate) default_ack_timeout: Duration,
    /// The last measured round trip in microseconds; zero until one is measured.
    rtt_micros: AtomicU64,
    last_ping: Mutex<Option<(u64, Instant)>>,
}

impl PeerCore {
    pub(crate) fn new(
        codec: PayloadCodec,
        info: ConnectionInfo,
        datagrams: Option<Arc<dyn DatagramSender>>,
        limits: ConnectionLimits,
        peer_max_frame_size: usize,
        default_ack_timeout: Duration,
    ) -> Self {
        Self {
            codec,
            info,
            outbox: Outbox::new(limits.max_queued_frames, limits.max_queued_bytes),
            acks: AckTable::new(limits.max_pending_acks),
            datagrams,
            limits,
            peer_max_frame_size,
            default_ack_timeout,
            rtt_micros: AtomicU64::new(0),
            last_ping: Mutex::new(None),
        }
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

    /// Queues an encoded reliable frame.
    pub(crate) fn send_reliable(&self, frame: Bytes) -> Result<(), EmitError> {
        if frame.len() > self.peer_max_frame_size {
            return Err(EmitError::FrameTooLarge {
                size: frame.len(),
                max: self.peer_max_frame_size,
            });
        }
        self.outbox.push(frame).map_err(|err| match err {
            PushError::Closed => EmitError::Disconnected,
            PushError::Overflow => EmitError::SlowConsumer,
        })
    }

    /// Sends an encoded volatile frame as a datagram when it fits, else queues it unless the
    /// queue is congested. Returns whether it left for the transport.
    pub(crate) fn send_volatile(&self, frame: Bytes) -> bool {
        if let Some(datagrams) = &self.datagrams {
            if frame.len() <= datagrams.max_size() {
                return datagrams.send(frame).is_ok();
            }
            if datagrams.rejects_oversize() {
                return false;
            }
        }
        frame.len() <= self.peer_max_frame_size && self.outbox.push_volatile(frame)
    }

    /// The datagram limit a volatile frame must fit, when the transport refuses larger ones.
    fn strict_datagram_limit(&self) -> Option<usize> {
        self.datagrams
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
        self.send_reliable(codec::encode_event(event, None, &payload))
    }

    pub(crate) fn emit_volatile(
        &self,
        event: &str,
        data: &dyn IntoPayload,
    ) -> Result<(), EmitError> {
        self.check_event_name(event)?;
        let payload = data.encode(self.codec)?;
        let frame = codec::encode_event(event, None, &payload);
        if frame.len() > self.peer_max_frame_size {
            return Err(EmitError::FrameTooLarge {
                size: frame.len(),
                max: self.peer_max_frame_size,
            });
        }
        if let Some(max) = self.strict_datagram_limit()
            && frame.len() > max
        {
            return Err(EmitError::DatagramTooLarge {
                size: frame.len(),
                max,
            });
        }
        if !self.send_volatile(frame) {
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
