//! An event on its way to one socket or many, encoded at most once per codec and class.

use std::sync::OnceLock;

use bytes::Bytes;
use quicket_proto::{PayloadCodec, PayloadError, codec};

use super::acks::next_ack_id;
use super::classes::{Delivery, next_seq};
use crate::payload::IntoPayload;

/// An event on its way to many sockets, encoded at most once per codec.
pub struct OutgoingEvent<'a> {
    name: &'a str,
    payload: &'a dyn IntoPayload,
    delivery: Delivery,
    /// The sequence number of a class that stamps one, the same for every recipient.
    seq: u64,
    ack: Option<u64>,
    /// The payload per codec, encoded once whichever frames carry it.
    payloads: [OnceLock<Result<Bytes, PayloadError>>; PayloadCodec::COUNT],
    frames: [OnceLock<Result<Bytes, PayloadError>>; PayloadCodec::COUNT],
    /// The `Sequenced` frames, for the classes that stamp.
    stamped: [OnceLock<Result<Bytes, PayloadError>>; PayloadCodec::COUNT],
}

impl<'a> OutgoingEvent<'a> {
    /// An event named `name` carrying `payload`.
    pub fn new(name: &'a str, payload: &'a dyn IntoPayload, volatile: bool) -> Self {
        Self {
            name,
            payload,
            delivery: if volatile {
                Delivery::Volatile
            } else {
                Delivery::Ordered
            },
            seq: 0,
            ack: None,
            payloads: Default::default(),
            frames: Default::default(),
            stamped: Default::default(),
        }
    }

    /// The same event with delivery class `delivery`; a class that stamps a sequence number
    /// takes the next one of this node's clock.
    pub fn with_delivery(mut self, delivery: Delivery) -> Self {
        if delivery.stamp_key().is_some() && self.seq == 0 {
            self.seq = next_seq();
        }
        self.delivery = delivery;
        self
    }

    /// The same event stamped `seq`: what a node delivers for another node's broadcast, so
    /// that every recipient sees the sequence number its origin gave.
    pub fn with_seq(mut self, seq: u64) -> Self {
        self.seq = seq;
        self
    }

    /// How it travels.
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// Its sequence number, for a class that stamps one; else 0.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub(crate) fn with_ack(mut self, id: u64) -> Self {
        self.ack = Some(id);
        self
    }

    /// The same event asking each recipient for an ack, under an ack id fresh in this
    /// process: what a node needs to run a broadcast with acks that another node started.
    pub fn expecting_acks(self) -> Self {
        self.with_ack(next_ack_id())
    }

    /// The event's name.
    pub fn name(&self) -> &str {
        self.name
    }

    /// The ack id every recipient answers to, for a broadcast with acks.
    pub fn ack_id(&self) -> Option<u64> {
        self.ack
    }

    /// The first payload encoding error, if a codec in use could not encode the payload.
    pub fn encode_error(&self) -> Option<PayloadError> {
        self.payloads.iter().find_map(|cell| {
            cell.get()
                .and_then(|payload| payload.as_ref().err().cloned())
        })
    }

    /// Whether it is a volatile event.
    pub fn is_volatile(&self) -> bool {
        self.delivery == Delivery::Volatile
    }

    /// The payload, encoded with `codec`: what a remote node needs to deliver it.
    pub fn payload(&self, codec: PayloadCodec) -> Result<Bytes, PayloadError> {
        self.encoded(codec).cloned().map_err(Clone::clone)
    }

    /// The payload encoded with `codec`, on first use, then shared by every frame.
    pub(crate) fn encoded(&self, codec: PayloadCodec) -> Result<&Bytes, &PayloadError> {
        self.payloads[codec.index()]
            .get_or_init(|| self.payload.encode(codec))
            .as_ref()
    }

    /// The whole frame for sockets that use `codec`; encoded on first use, then shared.
    pub fn frame(&self, codec: PayloadCodec) -> Result<&Bytes, &PayloadError> {
        self.frames[codec.index()]
            .get_or_init(|| {
                let payload = self.encoded(codec).map_err(Clone::clone)?;
                Ok(codec::encode_event(self.name, self.ack, payload))
            })
            .as_ref()
    }

    /// The `Sequenced` frame for sockets that use `codec` and agreed the delivery classes;
    /// for a class that stamps none, the plain frame.
    pub(crate) fn stamped(&self, codec: PayloadCodec) -> Result<&Bytes, &PayloadError> {
        let Some(key) = self.delivery.stamp_key() else {
            return self.frame(codec);
        };
        self.stamped[codec.index()]
            .get_or_init(|| {
                let payload = self.encoded(codec).map_err(Clone::clone)?;
                Ok(codec::encode_sequenced(self.name, key, self.seq, payload))
            })
            .as_ref()
    }
}
