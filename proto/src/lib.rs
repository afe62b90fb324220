//! quicket's wire format: frames, hand-pinned tags, length-prefixed framing and the bounded
//! bincode codec. No I/O, no async runtime.
//!
//! `PROTOCOL.md` beside this crate is the normative specification; `vectors/` holds the golden
//! bytes that the Rust and TypeScript implementations both check.
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use quicket_proto::{Event, Frame, FrameSplitter, codec};
//!
//! let frame = Frame::Event(Event { name: "chat".into(), ack: Some(1), data: Bytes::from_static(b"\x02hi") });
//! let body = codec::encode(&frame);
//!
//! // On a stream, each frame travels behind its length.
//! let mut prefix = [0u8; quicket_proto::framing::MAX_PREFIX_LEN];
//! let n = quicket_proto::framing::write_length_prefix(body.len(), &mut prefix);
//! let mut stream = BytesMut::from(&prefix[..n]);
//! stream.extend_from_slice(&body);
//!
//! let splitter = FrameSplitter::new(64 * 1024);
//! let received = splitter.split(&mut stream).unwrap().unwrap();
//! assert_eq!(codec::decode(&received).unwrap(), frame);
//! ```

mod code;
pub mod codec;
mod error;
mod frame;
pub mod framing;
mod limit;
mod payload;
mod socket_id;

pub use code::{DisconnectReason, RejectReason};
pub use error::{DecodeError, PayloadError};
pub use frame::{
    Ack, AckError, ChannelGrant, ChannelOffer, ChannelOffset, Disconnect, Event, Frame, Hello,
    PROTOCOL_VERSION, Ping, Pong, PresenceCount, PresenceDiff, PresenceEnd, PresenceEntry,
    PresenceMeta, PresenceState, PresenceStatePart, PresenceSubscribe, PresenceUnsubscribe, Reject,
    Resume, Sequenced, Tag, Welcome,
};
pub use framing::FrameSplitter;
pub use limit::MAX_FRAME_SIZE;
pub use payload::{BINARY_MARKER, PayloadCodec};
pub use socket_id::{ParseSocketIdError, SocketId};
