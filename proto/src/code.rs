//! Numeric reason codes carried in frames.
//!
//! Codes are varint `u16`s on the wire. A code this crate does not know decodes as `Other`, so
//! a newer peer's reasons still reach the application instead of failing the frame.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! reason_codes {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A code this version does not know, kept as sent.
            Other(u16),
        }

        impl $name {
            /// The code on the wire.
            pub fn code(self) -> u16 {
                match self {
                    $( $name::$variant => $code, )*
                    $name::Other(code) => code,
                }
            }

            /// The reason for a wire code.
            pub fn from_code(code: u16) -> Self {
                match code {
                    $( $code => $name::$variant, )*
                    other => $name::Other(other),
                }
            }

            /// The reason's name as spelled here (`SlowConsumer`), `Other` for a code this
            /// version does not know: a label that stays put across releases, for metrics.
            pub fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => stringify!($variant), )*
                    $name::Other(_) => "Other",
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_u16(self.code())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                u16::deserialize(deserializer).map($name::from_code)
            }
        }
    };
}

reason_codes! {
    /// Why a connection was closed.
    pub enum DisconnectReason {
        /// The client application asked to disconnect.
        ClientDisconnect = 1,
        /// The server application disconnected the socket.
        ServerDisconnect = 2,
        /// The peer did not answer pings in time.
        PingTimeout = 3,
        /// The peer read too slowly and its bounded outbound queue overflowed.
        SlowConsumer = 4,
        /// The peer sent a frame that is malformed or not allowed in the current state.
        ProtocolError = 5,
        /// The peer sent a frame larger than the negotiated maximum.
        FrameTooLarge = 6,
        /// The server is shutting down.
        ServerShutdown = 7,
        /// The transport closed without a disconnect frame.
        TransportClosed = 8,
        /// The handshake did not finish in time.
        HandshakeTimeout = 9,
        /// The peer sent more than the receiver takes: events beyond its rate limit, or more
        /// than its handlers kept up with for too long.
        Flooding = 10,
    }
}

reason_codes! {
    /// Why a handshake was refused.
    pub enum RejectReason {
        /// The application's auth check refused the credentials.
        Unauthorized = 1,
        /// The server does not speak the client's protocol version.
        UnsupportedVersion = 2,
        /// The first frame was not a well-formed [`Hello`](crate::Hello).
        BadHandshake = 3,
        /// The server is at its connection limit.
        ServerFull = 4,
        /// The server is shutting down and accepts no new sockets.
        ShuttingDown = 5,
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::ClientDisconnect => f.write_str("client disconnect"),
            DisconnectReason::ServerDisconnect => f.write_str("server disconnect"),
            DisconnectReason::PingTimeout => f.write_str("ping timeout"),
            DisconnectReason::SlowConsumer => f.write_str("slow consumer"),
            DisconnectReason::ProtocolError => f.write_str("protocol error"),
            DisconnectReason::FrameTooLarge => f.write_str("frame too large"),
            DisconnectReason::ServerShutdown => f.write_str("server shutdown"),
            DisconnectReason::TransportClosed => f.write_str("transport closed"),
            DisconnectReason::HandshakeTimeout => f.write_str("handshake timeout"),
            DisconnectReason::Flooding => f.write_str("flooding"),
            DisconnectReason::Other(code) => write!(f, "reason {code}"),
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::Unauthorized => f.write_str("unauthorized"),
            RejectReason::UnsupportedVersion => f.write_str("unsupported protocol version"),
            RejectReason::BadHandshake => f.write_str("bad handshake"),
            RejectReason::ServerFull => f.write_str("server full"),
            RejectReason::ShuttingDown => f.write_str("server shutting down"),
            RejectReason::Other(code) => write!(f, "reason {code}"),
        }
    }
}
