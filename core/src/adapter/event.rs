//! The replies a broadcast with acks collects.

use bytes::Bytes;
use quicket_proto::{PayloadCodec, SocketId};

pub use crate::endpoint::outgoing::OutgoingEvent;
use crate::error::AckError;

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
