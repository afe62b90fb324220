//! The handshake, the first phase of every connection, with no I/O and no clock
//! (PROTOCOL.md section 4): the deadline it must meet, what the server makes of the client's
//! first frame, what the client makes of the server's answer, and how a refused handshake
//! ends. The server's connection and the client's dial only move the frames and sleep until
//! the deadline; the open connection's phases are the [`Machine`](super::machine::Machine)'s.

use std::time::{Duration, Instant};

use bytes::Bytes;
use quicket_proto::{
    Disconnect, DisconnectReason, Frame, Hello, PROTOCOL_VERSION, Reject, RejectReason, Welcome,
    codec,
};

use crate::config::ConnectionLimits;
use crate::error::ConnectError;
use crate::transport::{Incoming, TransportError};

#[cfg(test)]
mod tests;

/// The smallest frame limit a client may advertise: below it, not even a `Welcome` fits.
const MIN_PEER_FRAME_SIZE: u32 = 1024;

/// A handshake under way: it must be over by its deadline, or the connection ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Greeting {
    deadline: Instant,
}

impl Greeting {
    /// A handshake begun at `now` that may take `timeout`.
    pub(crate) fn new(timeout: Duration, now: Instant) -> Self {
        Self {
            deadline: now + timeout,
        }
    }

    /// When the handshake must be over.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The server's reading of the client's first frame, or of its failure to arrive: the
    /// `Hello`, or how to refuse it.
    pub(crate) fn hello(
        &self,
        read: Result<Incoming, TransportError>,
        limits: &ConnectionLimits,
    ) -> Result<Hello, Refusal> {
        let bytes = match read {
            Ok(Incoming::Frame(bytes)) => bytes,
            Ok(Incoming::Datagram(_) | Incoming::Channel(..) | Incoming::Alone(_)) => {
                let message = "a datagram or a channel's frame came before the handshake";
                return Err(refusal(RejectReason::BadHandshake, message));
            }
            Err(err @ TransportError::FrameTooLarge { .. }) => {
                return Err(Refusal::Unframed(
                    DisconnectReason::FrameTooLarge,
                    err.to_string(),
                ));
            }
            Err(err @ TransportError::Malformed(_)) => {
                return Err(Refusal::Unframed(
                    DisconnectReason::ProtocolError,
                    err.to_string(),
                ));
            }
            Err(_) => return Err(Refusal::Gone),
        };
        let hello = match codec::decode(&bytes) {
            Ok(Frame::Hello(hello)) => hello,
            Ok(other) => {
                let message = format!("expected Hello, got {:?}", other.tag());
                return Err(refusal(RejectReason::BadHandshake, &message));
            }
            // A later version's Hello keeps its tag and `version` first (PROTOCOL.md 10.1).
            Err(err) => {
                return Err(match codec::hello_version(&bytes) {
                    Some(version) if version != PROTOCOL_VERSION => unsupported(version),
                    _ => refusal(
                        RejectReason::BadHandshake,
                        &format!("undecodable Hello: {err}"),
                    ),
                });
            }
        };
        if hello.version != PROTOCOL_VERSION {
            return Err(unsupported(hello.version));
        }
        check_sizes(&hello, limits)?;
        Ok(hello)
    }

    /// The client's reading of a frame from the server: the `Welcome`, why the handshake
    /// failed, or `None` for a datagram, which says nothing about the handshake.
    pub(crate) fn answer(&self, incoming: Incoming) -> Option<Result<Welcome, ConnectError>> {
        let Incoming::Frame(bytes) = incoming else {
            return None;
        };
        Some(match codec::decode(&bytes) {
            Ok(Frame::Welcome(welcome)) => Ok(welcome),
            Ok(Frame::Reject(reject)) => Err(ConnectError::Rejected {
                reason: reject.reason,
                message: reject.message,
                data: reject.data,
            }),
            // The server gave up on the handshake (its timeout, or shutting down) and said why.
            Ok(Frame::Disconnect(bye)) => {
                Err(ConnectError::Transport(TransportError::PeerClosed {
                    reason: bye.reason,
                    message: bye.message,
                }))
            }
            Ok(other) => Err(ConnectError::Protocol(format!(
                "expected Welcome, got {:?}",
                other.tag()
            ))),
            Err(err) => Err(ConnectError::Protocol(err.to_string())),
        })
    }
}

/// Why a connection got no session.
#[derive(Debug, PartialEq)]
pub(crate) enum Refusal {
    /// The client went away during the handshake.
    Gone,
    /// The first bytes were not a frame the transport could deliver: the client gets a
    /// `Reject{BadHandshake}` saying why, and the close carries the reason.
    Unframed(DisconnectReason, String),
    /// The client said nothing in time.
    Timeout,
    /// The client gets this `Reject` frame.
    Reject(Box<Frame>),
}

/// How a refused handshake ends: the last frame the client gets, and the close's reason and
/// message.
#[derive(Debug, PartialEq)]
pub(crate) struct LastWords {
    pub(crate) frame: Frame,
    pub(crate) reason: DisconnectReason,
    pub(crate) message: &'static str,
}

impl Refusal {
    /// Why, as a metric label: the `Reject`'s reason, else how the connection ends.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Refusal::Gone => DisconnectReason::TransportClosed.name(),
            Refusal::Unframed(reason, _) => reason.name(),
            Refusal::Timeout => DisconnectReason::HandshakeTimeout.name(),
            Refusal::Reject(frame) => match &**frame {
                Frame::Reject(reject) => reject.reason.name(),
                _ => "Other",
            },
        }
    }

    /// How the connection ends; `None` when the client is gone and nothing is left to say.
    pub(crate) fn last_words(self) -> Option<LastWords> {
        let (frame, reason, message) = match self {
            Refusal::Gone => return None,
            Refusal::Unframed(reason, why) => (
                reject(RejectReason::BadHandshake, &why),
                reason,
                "bad first frame",
            ),
            Refusal::Timeout => (
                Frame::Disconnect(Disconnect {
                    reason: DisconnectReason::HandshakeTimeout,
                    message: "no Hello in time".to_owned(),
                }),
                DisconnectReason::HandshakeTimeout,
                "handshake timed out",
            ),
            Refusal::Reject(frame) => (
                *frame,
                DisconnectReason::ServerDisconnect,
                "handshake refused",
            ),
        };
        Some(LastWords {
            frame,
            reason,
            message,
        })
    }
}

/// A refusal with a `Reject` frame.
pub(crate) fn refusal(reason: RejectReason, message: &str) -> Refusal {
    Refusal::Reject(Box::new(reject(reason, message)))
}

fn reject(reason: RejectReason, message: &str) -> Frame {
    Frame::Reject(Reject {
        reason,
        message: message.to_owned(),
        data: Bytes::new(),
    })
}

fn unsupported(version: u16) -> Refusal {
    let message = format!("protocol version {version} is not {PROTOCOL_VERSION}");
    refusal(RejectReason::UnsupportedVersion, &message)
}

/// A Hello whose sizes are out of bounds: a frame limit too small for a `Welcome`, or
/// fields larger than the server keeps. The socket keeps its Hello for its whole life, a
/// kept session too.
fn check_sizes(hello: &Hello, limits: &ConnectionLimits) -> Result<(), Refusal> {
    if hello.max_frame_size < MIN_PEER_FRAME_SIZE {
        let message = format!(
            "max_frame_size {} is below the minimum of {MIN_PEER_FRAME_SIZE}",
            hello.max_frame_size
        );
        return Err(refusal(RejectReason::BadHandshake, &message));
    }
    let info = limits.max_client_info_len;
    for (field, len, max) in [
        ("client_name", hello.client_name.len(), info),
        ("client_version", hello.client_version.len(), info),
        ("auth", hello.auth.len(), limits.max_auth_size),
    ] {
        if len > max {
            let message = format!("{field} of {len} bytes exceeds the maximum of {max}");
            return Err(refusal(RejectReason::BadHandshake, &message));
        }
    }
    Ok(())
}
