//! One error enum per operation.

use std::time::Duration;

use quicket_proto::{PayloadError, RejectReason};
use thiserror::Error;

use crate::transport::TransportError;

/// Why an emit did not queue its event.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The payload could not be encoded with the connection's codec.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The event name is longer than the configured maximum.
    #[error("event name of {len} bytes exceeds the maximum of {max}")]
    EventNameTooLong {
        /// The name's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The encoded frame is larger than the peer accepts.
    #[error("frame of {size} bytes exceeds the peer's maximum of {max}")]
    FrameTooLarge {
        /// The frame's size in bytes.
        size: usize,
        /// The peer's limit.
        max: usize,
    },
    /// A volatile event is larger than the transport's datagram limit, and the transport does
    /// not send oversized volatile events on its reliable channel.
    #[error("volatile frame of {size} bytes exceeds the datagram limit of {max}")]
    DatagramTooLarge {
        /// The frame's size in bytes.
        size: usize,
        /// The current datagram limit.
        max: usize,
    },
    /// The connection is closed or closing.
    #[error("the connection is closed")]
    Disconnected,
    /// The connection's outbound queue overflowed; it is being closed as a slow consumer.
    #[error("the peer reads too slowly; the connection is closing")]
    SlowConsumer,
    /// The client is reconnecting and its buffer of events emitted meanwhile is full.
    #[error("disconnected, and the offline buffer is full")]
    OfflineBufferFull,
}

/// Why an acknowledged emit has no reply.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AckError {
    /// The event could not be sent.
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// No reply came within the timeout.
    #[error("no acknowledgement within {0:?}")]
    Timeout(Duration),
    /// The peer answered with an error.
    #[error("the peer failed to handle the event: {0}")]
    Remote(String),
    /// The reply does not decode as the requested type.
    #[error("the reply does not decode: {0}")]
    Payload(PayloadError),
    /// Too many acknowledgements are pending on this connection already.
    #[error("too many acknowledgements pending")]
    TooManyPending,
    /// The connection closed before the reply came.
    #[error("the connection closed before the reply came")]
    Disconnected,
}

/// Why a socket could not join a room.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The socket is in as many rooms as it may be.
    #[error("the socket is already in the maximum of {max} rooms")]
    TooManyRooms {
        /// The limit.
        max: usize,
    },
    /// The socket has disconnected.
    #[error("the socket is disconnected")]
    Disconnected,
}

/// Why a presence operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PresenceError {
    /// Presence is per room: the socket must be in the room first.
    #[error("the socket is not in room {0:?}")]
    NotInRoom(String),
    /// The metadata could not be encoded.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The presence state could not be sent (too large for the client, or the connection is
    /// closing).
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// The socket has disconnected.
    #[error("the socket is disconnected")]
    Disconnected,
    /// The socket already tracks as many keys as it may ([`PresenceLimits::max_keys_per_socket`](crate::PresenceLimits::max_keys_per_socket)).
    #[error("the socket already tracks {max} keys")]
    TooManyKeys {
        /// The limit.
        max: usize,
    },
    /// The key already has as many metas as it may, from other sockets
    /// ([`PresenceLimits::max_metas_per_key`](crate::PresenceLimits::max_metas_per_key)).
    #[error("key {key:?} already has {max} metas")]
    TooManyMetas {
        /// The key.
        key: String,
        /// The limit.
        max: usize,
    },
    /// The room already holds as many keys as it may
    /// ([`PresenceLimits::max_keys_per_room`](crate::PresenceLimits::max_keys_per_room)).
    #[error("the room already holds {max} keys")]
    RoomFull {
        /// The limit.
        max: usize,
    },
    /// The meta is larger than allowed
    /// ([`PresenceLimits::max_meta_size`](crate::PresenceLimits::max_meta_size)).
    #[error("a meta of {size} bytes exceeds the maximum of {max}")]
    MetaTooLarge {
        /// The meta's size, in the larger of its encodings.
        size: usize,
        /// The limit.
        max: usize,
    },
}

/// Why a client did not connect.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The transport failed to open.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The server refused the handshake.
    #[error("the server refused the connection ({reason}): {message}")]
    Rejected {
        /// Why, as a code.
        reason: RejectReason,
        /// Why, in words.
        message: String,
        /// The application's data about the refusal, decodable with [`crate::FromPayload`].
        data: bytes::Bytes,
    },
    /// The auth payload could not be encoded.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The server answered with something other than a handshake reply.
    #[error("protocol error during the handshake: {0}")]
    Protocol(String),
    /// No handshake reply within the timeout.
    #[error("no handshake reply within {0:?}")]
    Timeout(Duration),
}

/// `err` and every error beneath it, joined by ": ", as `anyhow`'s `{:#}` prints them. A
/// quicket error says what failed in its own message and keeps why (the operating system's
/// error, TLS's) as its source, so a log line that shows only `{err}` loses the why.
pub fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut cause = err.source();
    while let Some(err) = cause {
        line.push_str(": ");
        line.push_str(&err.to_string());
        cause = err.source();
    }
    line
}
