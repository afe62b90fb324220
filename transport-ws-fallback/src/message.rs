//! The two WebSocket stacks quicket uses (axum's on the server, tokio-tungstenite in the
//! client) under one view, so the connection logic is written once.

use axum::extract::ws as server;
use bytes::Bytes;
use quicket_core::DisconnectReason;
use quicket_core::transport::TransportError;
use tokio_tungstenite::tungstenite;

/// What a received WebSocket message means to quicket.
pub(crate) enum Kind {
    /// One frame.
    Frame(Bytes),
    /// Text: not part of the protocol.
    Text,
    /// The peer's close, with its code and reason.
    Close(Option<(u16, String)>),
    /// Ping or pong, answered by the WebSocket stack itself.
    Control,
}

/// A WebSocket message type of either stack.
pub(crate) trait WsMessage: Sized + Send + 'static {
    fn binary(frame: Bytes) -> Self;
    fn close(code: u16, reason: &str) -> Self;
    fn kind(self) -> Kind;
}

/// A WebSocket error type of either stack.
pub(crate) trait WsError: Send + 'static {
    fn into_transport(self) -> TransportError;
}

impl WsMessage for server::Message {
    fn binary(frame: Bytes) -> Self {
        server::Message::Binary(frame)
    }

    fn close(code: u16, reason: &str) -> Self {
        server::Message::Close(Some(server::CloseFrame {
            code,
            reason: reason.into(),
        }))
    }

    fn kind(self) -> Kind {
        match self {
            server::Message::Binary(frame) => Kind::Frame(frame),
            server::Message::Text(_) => Kind::Text,
            server::Message::Close(close) => {
                Kind::Close(close.map(|c| (c.code, c.reason.to_string())))
            }
            server::Message::Ping(_) | server::Message::Pong(_) => Kind::Control,
        }
    }
}

impl WsMessage for tungstenite::Message {
    fn binary(frame: Bytes) -> Self {
        tungstenite::Message::Binary(frame)
    }

    fn close(code: u16, reason: &str) -> Self {
        tungstenite::Message::Close(Some(tungstenite::protocol::CloseFrame {
            code: code.into(),
            reason: reason.into(),
        }))
    }

    fn kind(self) -> Kind {
        match self {
            tungstenite::Message::Binary(frame) => Kind::Frame(frame),
            tungstenite::Message::Text(_) => Kind::Text,
            tungstenite::Message::Close(close) => {
                Kind::Close(close.map(|c| (u16::from(c.code), c.reason.to_string())))
            }
            _ => Kind::Control,
        }
    }
}

impl WsError for tungstenite::Error {
    fn into_transport(self) -> TransportError {
        match self {
            tungstenite::Error::Capacity(tungstenite::error::CapacityError::MessageTooLong {
                size,
                max_size,
            }) => TransportError::FrameTooLarge {
                declared: size as u64,
                max: max_size,
            },
            tungstenite::Error::Capacity(other) => TransportError::Malformed(other.to_string()),
            // The TCP connection ended (FIN) without a close frame: a crashed process or a
            // killed tab, not a protocol violation. The session may be resumed (PROTOCOL.md 10.5).
            tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            ) => TransportError::Closed,
            tungstenite::Error::Protocol(err) => TransportError::Malformed(err.to_string()),
            tungstenite::Error::Utf8(err) => TransportError::Malformed(err),
            tungstenite::Error::Io(err) => TransportError::Io(err),
            _ => TransportError::Closed,
        }
    }
}

impl WsError for axum::Error {
    fn into_transport(self) -> TransportError {
        match self.into_inner().downcast::<tungstenite::Error>() {
            Ok(err) => err.into_transport(),
            Err(_) => TransportError::Closed,
        }
    }
}

/// The WebSocket close code for a disconnect reason: the standard codes where one fits
/// (1009 message too big, 1002 protocol error), else `4000 + reason`.
///
/// Server shutdown is 4007, not 1001 "going away": browsers send 1001 when a page unloads, and
/// that must read as a dropped connection, which may resume, not as a deliberate end.
pub fn close_code(reason: DisconnectReason) -> u16 {
    match reason {
        DisconnectReason::FrameTooLarge => 1009,
        DisconnectReason::ProtocolError => 1002,
        other => 4000u16.saturating_add(other.code().min(999)),
    }
}

/// The disconnect reason a WebSocket close code carries, if it carries one. 1000 and 1001 (a
/// normal close, a page unloading) carry none: without a `Disconnect` frame they are
/// `TransportClosed` (PROTOCOL.md section 2).
pub fn close_reason(code: u16) -> Option<DisconnectReason> {
    match code {
        1009 => Some(DisconnectReason::FrameTooLarge),
        1002 | 1003 | 1007 => Some(DisconnectReason::ProtocolError),
        4000..=4999 => Some(DisconnectReason::from_code(code - 4000)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_through_close_codes() {
        for code in 1..=10 {
            let reason = DisconnectReason::from_code(code);
            assert_eq!(close_reason(close_code(reason)), Some(reason));
        }
        assert_eq!(close_code(DisconnectReason::FrameTooLarge), 1009);
        assert_eq!(close_code(DisconnectReason::ServerShutdown), 4007);
        assert_eq!(close_reason(1000), None);
        assert_eq!(close_reason(1001), None, "a page unloading");
    }
}
