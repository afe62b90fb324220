//! How and why a connection closes: what every part that can end a connection (the driver, a
//! full queue, the server, the client, a resume taking over) hands to the outbox.

use std::time::Duration;

use quicket_proto::DisconnectReason;

/// How and why a connection is closing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Close {
    pub(crate) reason: DisconnectReason,
    pub(crate) message: String,
    /// Send a `Disconnect` frame before closing the transport.
    pub(crate) notify_peer: bool,
    /// Write what is queued before closing.
    pub(crate) flush: bool,
    /// How long the queue may take to drain; the connection's close timeout when `None`.
    pub(crate) drain_within: Option<Duration>,
}

impl Close {
    /// A close we decide on and tell the peer about, dropping what is queued.
    pub(crate) fn now(reason: DisconnectReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            notify_peer: true,
            flush: false,
            drain_within: None,
        }
    }

    /// A close that first writes what is queued.
    pub(crate) fn graceful(reason: DisconnectReason) -> Self {
        Self {
            reason,
            message: String::new(),
            notify_peer: true,
            flush: true,
            drain_within: None,
        }
    }

    /// The peer is gone or has said goodbye: nothing more to write.
    pub(crate) fn silent(reason: DisconnectReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            notify_peer: false,
            flush: false,
            drain_within: None,
        }
    }

    /// Whether the session may outlive this close: the connection broke, and neither
    /// application asked for it (PROTOCOL.md section 10.6).
    pub(crate) fn is_recoverable(&self) -> bool {
        matches!(
            self.reason,
            DisconnectReason::TransportClosed | DisconnectReason::PingTimeout
        )
    }
}
