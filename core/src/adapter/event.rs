//! What a broadcast carries: the event, encoded at most once per codec, and the replies.

use std::sync::OnceLock;

use bytes::Bytes;
use quicket_proto::{PayloadCodec, PayloadError, SocketId, codec};

use crate::endpoint::acks::next_ack_id;
use crate::error::AckError;
use crate::payload::IntoPayload;

/// An event on its way to many sockets, encoded at most once per codec.
pub struct OutgoingEvent<'a> {
    name: &'a str,
    payload: &'a dyn IntoPayload,
    volatile: bool,
    ack: Option<u64>,
    frames: [OnceLock<Result<Bytes, PayloadError>>; PayloadCodec::COUNT],
}

impl<'a> OutgoingEvent<'a> {
    /// An event named `name` carrying `payload`.
    pub fn new(name: &'a str, payload: &'a dyn IntoPayload, volatile: bool) -> Self {
        Self {
            name,
            payload,
            volatile,
            ack: None,
            frames: Default::default(),
        }
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
        self.frames
            .iter()
            .find_map(|cell| cell.get().and_then(|frame| frame.as_ref().err().cloned()))
    }

    /// Whether it may be dropped.
    pub fn is_volatile(&self) -> bool {
        self.volatile
    }

    /// The payload, encoded with `codec`: what a remote node needs to deliver it.
    pub fn payload(&self, codec: PayloadCodec) -> Result<Bytes, PayloadError> {
        self.payload.encode(codec)
    }

    /// The whole frame for sockets that use `codec`; encoded on first use, then shared.
    pub fn frame(&self, codec: PayloadCodec) -> Result<&Bytes, &PayloadError> {
        self.frames[codec.index()]
            .get_or_init(|| {
                let payload = self.payload.encode(codec)?;
                Ok(codec::encode_event(self.name, self.ack, &payload))
            })
            .as_ref()
    }
}

/// One socket's answer to a broadcast with acks, before decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckOutcome {
    /// The socket.
    pub sid: SocketId,
    /// The codec its reply is encoded with.
    pub codec: PayloadCodec,
    /// Its reply.
    pub reply: Result<Bytes, AckError>,
}
