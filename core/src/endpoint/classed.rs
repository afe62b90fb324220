//! Sending the delivery classes (PROTOCOL.md section 2.3), for one emit or one recipient of a
//! broadcast, and the receiver's side of `Sequenced` frames.

use std::sync::PoisonError;
use std::time::Instant;

use super::SessionCore;
use super::channels::ChannelKey;
use super::classes::{Delivery, latest_slot};
use super::outbox::Route;
use super::outgoing::OutgoingEvent;
use crate::error::EmitError;
use crate::meters::Class;
use crate::payload::IntoPayload;

/// Emits of one delivery class to a single peer: `socket.sequenced().emit(..)`.
pub struct Classed<'a> {
    core: &'a SessionCore,
    delivery: Delivery,
}

impl<'a> Classed<'a> {
    pub(crate) fn new(core: &'a SessionCore, delivery: Delivery) -> Self {
        Self { core, delivery }
    }

    /// Emits an event of this class. For the classes that may drop (volatile, sequenced,
    /// latest), an `Ok` does not mean it was delivered.
    pub fn emit(&self, event: &str, data: impl IntoPayload) -> Result<(), EmitError> {
        let core = self.core;
        if self.delivery == Delivery::Volatile {
            return core.emit_volatile(event, &data);
        }
        core.check_event_name(event)?;
        let outgoing = OutgoingEvent::new(event, &data, false).with_delivery(self.delivery.clone());
        if let Some(size) = core.send_outgoing(&outgoing, Instant::now(), None)? {
            core.meters
                .events_out(SessionCore::class_of(&self.delivery), 1, size);
        }
        Ok(())
    }
}

impl SessionCore {
    /// Whether this connection agreed the delivery classes.
    pub(crate) fn classes(&self) -> bool {
        self.link().classes
    }

    /// Whether the peer reads single-frame streams: the classes were agreed, and channels
    /// granted, which a client without stream support never has.
    pub(crate) fn accepts_alone(&self) -> bool {
        self.classes() && self.outbox.channels_granted() > 0
    }

    /// Whether a sequenced value stamped `seq` is newer than any handled for its name and key.
    pub(crate) fn admit_sequenced(&self, name: &str, key: &str, seq: u64) -> bool {
        let mut freshness = self
            .freshness
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        freshness.admit(name, key, seq)
    }

    /// Sends `event` by its delivery class, degraded where this connection cannot carry the
    /// class (PROTOCOL.md section 2.3). `key` names the room whose channel an ordered event
    /// takes. The size of the frame that left for the transport, or `None` when a droppable
    /// class was dropped. The caller counts what it sent.
    pub(crate) fn send_outgoing(
        &self,
        event: &OutgoingEvent<'_>,
        now: Instant,
        key: Option<ChannelKey>,
    ) -> Result<Option<usize>, EmitError> {
        let link = self.link();
        let (classes, server) = (link.classes, link.server);
        let datagrams = link.datagrams.clone();
        drop(link);
        let alone = server && classes && self.outbox.channels_granted() > 0;
        let frame = if classes {
            event.stamped(self.codec)
        } else {
            event.frame(self.codec)
        };
        let frame = frame.cloned().map_err(Clone::clone)?;
        let size = frame.len();
        let sent = match event.delivery() {
            Delivery::Volatile => self.send_volatile(frame),
            Delivery::Sequenced if !classes => self.send_volatile(frame),
            Delivery::Unordered if alone => self.push_alone(frame)?,
            Delivery::Sequenced => {
                self.check_frame_size(&frame)?;
                let fits = datagrams.as_ref().filter(|d| size <= d.max_size());
                if let Some(datagrams) = fits {
                    // A datagram may be lost anyway; a failed one is just that.
                    datagrams.send(frame).is_ok()
                } else if alone {
                    self.push_alone(frame)?
                } else {
                    self.outbox.push_droppable(frame, false)
                }
            }
            Delivery::Latest(value_key) if classes => {
                self.check_frame_size(&frame)?;
                let slot = latest_slot(event.name(), value_key);
                let route = if alone {
                    Route::Alone(Some(slot))
                } else {
                    Route::Superseding(slot)
                };
                self.outbox
                    .push_unlogged(route, frame)
                    .map_err(|err| self.push_error(err))?;
                true
            }
            // Ordered, and unordered or latest where they degrade to it.
            _ => {
                self.send_event_at(frame, now, key)?;
                true
            }
        };
        Ok(sent.then_some(size))
    }

    /// Queues a frame for a stream of its own, which nothing supersedes.
    fn push_alone(&self, frame: bytes::Bytes) -> Result<bool, EmitError> {
        self.check_frame_size(&frame)?;
        self.outbox
            .push_unlogged(Route::Alone(None), frame)
            .map(|()| true)
            .map_err(|err| self.push_error(err))
    }

    /// The meter class an emit of `delivery` counts under.
    pub(crate) fn class_of(delivery: &Delivery) -> Class {
        if delivery.is_reliable() {
            Class::Reliable
        } else {
            Class::Volatile
        }
    }
}
