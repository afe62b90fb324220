//! The frames of protocol version 1 and their hand-pinned tags.
//!
//! A frame on the wire is one tag byte followed by the frame's body in bincode 2 `standard()`
//! form. Tags are written here by hand and frozen by `proto/vectors/`: reordering the enum
//! below never changes a byte on the wire.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::code::{DisconnectReason, RejectReason};
use crate::payload::PayloadCodec;
use crate::socket_id::SocketId;

/// The protocol version this crate speaks, sent in [`Hello::version`].
pub const PROTOCOL_VERSION: u16 = 1;

/// One protocol frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// Client → server: the first frame of every connection.
    Hello(Hello),
    /// Server → client: the handshake was accepted.
    Welcome(Welcome),
    /// Server → client: the handshake was refused; the server closes after sending it.
    Reject(Reject),
    /// Either way: a named event, optionally asking for an acknowledgement.
    Event(Event),
    /// Either way: a named event stamped with a sequence number, which the receiver drops when
    /// it has already handled a newer one of the same name and key (PROTOCOL.md section 2.3).
    Sequenced(Sequenced),
    /// Either way: a successful reply to an event that carried an ack id.
    Ack(Ack),
    /// Either way: a failed reply to an event that carried an ack id.
    AckError(AckError),
    /// Client → server: start receiving presence for a room.
    PresenceSubscribe(PresenceSubscribe),
    /// Client → server: stop receiving presence for a room.
    PresenceUnsubscribe(PresenceUnsubscribe),
    /// Server → client: the full presence of a room, sent first on every subscription (after
    /// its parts, when it is too large for one frame).
    PresenceState(PresenceState),
    /// Server → client: keys and metas that joined or left a room since the last state or diff.
    PresenceDiff(PresenceDiff),
    /// Server → client: no more presence will come for this room (refused, left, unsubscribed).
    PresenceEnd(PresenceEnd),
    /// Server → client: part of a room's state too large for one frame; the
    /// [`Frame::PresenceState`] that follows completes it.
    PresenceStatePart(PresenceStatePart),
    /// Server → client: how many keys and connections a room counts, in place of its state and
    /// diffs, for a room whose server sends counts only.
    PresenceCount(PresenceCount),
    /// Either way: a liveness probe that the peer answers with [`Frame::Pong`].
    Ping(Ping),
    /// Either way: the answer to a [`Frame::Ping`], echoing its id.
    Pong(Pong),
    /// Either way: the sender is closing the connection, and why.
    Disconnect(Disconnect),
}

/// A frame's tag: its first byte on the wire.
///
/// The values are part of the protocol and MUST NOT change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u8)]
pub enum Tag {
    /// [`Frame::Hello`]
    Hello = 0x01,
    /// [`Frame::Welcome`]
    Welcome = 0x02,
    /// [`Frame::Reject`]
    Reject = 0x03,
    /// [`Frame::Event`]
    Event = 0x10,
    /// [`Frame::Sequenced`]
    Sequenced = 0x13,
    /// [`Frame::Ack`]
    Ack = 0x11,
    /// [`Frame::AckError`]
    AckError = 0x12,
    /// [`Frame::PresenceSubscribe`]
    PresenceSubscribe = 0x20,
    /// [`Frame::PresenceUnsubscribe`]
    PresenceUnsubscribe = 0x21,
    /// [`Frame::PresenceState`]
    PresenceState = 0x22,
    /// [`Frame::PresenceDiff`]
    PresenceDiff = 0x23,
    /// [`Frame::PresenceEnd`]
    PresenceEnd = 0x24,
    /// [`Frame::PresenceStatePart`]
    PresenceStatePart = 0x25,
    /// [`Frame::PresenceCount`]
    PresenceCount = 0x26,
    /// [`Frame::Ping`]
    Ping = 0x30,
    /// [`Frame::Pong`]
    Pong = 0x31,
    /// [`Frame::Disconnect`]
    Disconnect = 0x3F,
}

impl Tag {
    /// Every tag, in wire order.
    pub const ALL: [Tag; 17] = [
        Tag::Hello,
        Tag::Welcome,
        Tag::Reject,
        Tag::Event,
        Tag::Ack,
        Tag::AckError,
        Tag::Sequenced,
        Tag::PresenceSubscribe,
        Tag::PresenceUnsubscribe,
        Tag::PresenceState,
        Tag::PresenceDiff,
        Tag::PresenceEnd,
        Tag::PresenceStatePart,
        Tag::PresenceCount,
        Tag::Ping,
        Tag::Pong,
        Tag::Disconnect,
    ];

    /// Parses a tag byte; `None` for a byte that names no frame.
    pub fn from_byte(byte: u8) -> Option<Tag> {
        Tag::ALL.into_iter().find(|tag| *tag as u8 == byte)
    }
}

impl Frame {
    /// The tag that this frame is written with.
    pub fn tag(&self) -> Tag {
        match self {
            Frame::Hello(_) => Tag::Hello,
            Frame::Welcome(_) => Tag::Welcome,
            Frame::Reject(_) => Tag::Reject,
            Frame::Event(_) => Tag::Event,
            Frame::Sequenced(_) => Tag::Sequenced,
            Frame::Ack(_) => Tag::Ack,
            Frame::AckError(_) => Tag::AckError,
            Frame::PresenceSubscribe(_) => Tag::PresenceSubscribe,
            Frame::PresenceUnsubscribe(_) => Tag::PresenceUnsubscribe,
            Frame::PresenceState(_) => Tag::PresenceState,
            Frame::PresenceDiff(_) => Tag::PresenceDiff,
            Frame::PresenceEnd(_) => Tag::PresenceEnd,
            Frame::PresenceStatePart(_) => Tag::PresenceStatePart,
            Frame::PresenceCount(_) => Tag::PresenceCount,
            Frame::Ping(_) => Tag::Ping,
            Frame::Pong(_) => Tag::Pong,
            Frame::Disconnect(_) => Tag::Disconnect,
        }
    }
}

/// The client's opening frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol version the client speaks; [`PROTOCOL_VERSION`] for this crate.
    pub version: u16,
    /// The codec of every payload on this connection, in both directions.
    pub codec: PayloadCodec,
    /// The client library's name, for logs (e.g. `quicket-rs`, `quicket-js`).
    pub client_name: String,
    /// The client library's version, for logs.
    pub client_version: String,
    /// The largest frame, in bytes, that the client accepts; the server MUST NOT send larger.
    pub max_frame_size: u32,
    /// The application's credentials, encoded with [`Hello::codec`]; empty for none.
    pub auth: Bytes,
    /// A session to resume after a drop, for connection state recovery.
    pub resume: Option<Resume>,
    /// The channels the client accepts beside the reliable stream (PROTOCOL.md section 2.2); a
    /// trailing field, absent from the wire when `None`.
    #[serde(skip)]
    pub channels: Option<ChannelOffer>,
}

/// What a client accepts beyond one ordered stream: channels and delivery classes; for a
/// resume, also how far it got on each channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelOffer {
    /// How many channels beside channel 0 the client accepts; 0 for none.
    pub max_channels: u16,
    /// For a resume: the server's reliable events the client handled on each channel above 0.
    /// A channel left out counts zero.
    pub offsets: Vec<ChannelOffset>,
    /// Whether the client speaks the delivery classes (PROTOCOL.md section 2.3): it handles
    /// [`Sequenced`] frames, and unidirectional streams that carry a single frame.
    pub classes: bool,
}

/// How many of the server's reliable events a client handled on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelOffset {
    /// The channel, above 0.
    pub channel: u16,
    /// Its reliable events handled, counted from one.
    pub offset: u64,
}

/// The server's answer to a [`ChannelOffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelGrant {
    /// How many channels beside channel 0 the server may open; at most the offer, 0 for none.
    pub max_channels: u16,
    /// Whether both sides use the delivery classes: `true` only when the offer said so and the
    /// server speaks them too.
    pub classes: bool,
}

/// What a reconnecting client offers to resume.
///
/// Offsets count the reliable events of a session in one direction: every `Event` without an
/// ack id that crossed the ordered channel, in order, from one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    /// The opaque session token the server handed out.
    pub token: Bytes,
    /// How many of the server's reliable events the client has handled in this session.
    pub offset: u64,
}

/// The server's acceptance of a [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The connection's socket id, unique on the server.
    pub sid: SocketId,
    /// How often the server pings, in milliseconds.
    pub ping_interval_ms: u32,
    /// How long after a ping the server waits for its pong, in milliseconds.
    pub ping_timeout_ms: u32,
    /// The largest frame, in bytes, that the server accepts on this connection.
    pub max_frame_size: u32,
    /// The token that resumes this session after a drop ([`Resume::token`]); empty when the
    /// server keeps no sessions. A new token is issued on every `Welcome`.
    pub session: Bytes,
    /// Whether the [`Hello::resume`] was honoured: the socket id, rooms and data are the
    /// session's, and the events the client missed follow.
    pub recovered: bool,
    /// How many of the client's reliable events the server has handled in this session; the
    /// client sends the rest again. Zero for a new session.
    pub offset: u64,
    /// The answer to [`Hello::channels`], present exactly when the `Hello` had one; a trailing
    /// field, absent from the wire when `None`.
    #[serde(skip)]
    pub channels: Option<ChannelGrant>,
}

/// The server's refusal of a [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reject {
    /// Why the handshake was refused.
    pub reason: RejectReason,
    /// A human-readable explanation.
    pub message: String,
    /// Application data for the client (e.g. `{"retry_after": 5}`), encoded with the
    /// codec the client asked for; empty for none.
    pub data: Bytes,
}

/// A named event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The event's name; handlers are registered by it.
    pub name: String,
    /// When present, the receiver MUST answer with an [`Ack`] or [`AckError`] of this id.
    pub ack: Option<u64>,
    /// The event's payload, encoded with the connection's codec.
    pub data: Bytes,
}

/// A named event that only its newest matters for: the receiver drops it when it has handled a
/// `Sequenced` of the same `name` and `key` with a higher or equal `seq`. It never asks for an
/// acknowledgement, and never counts toward a session's offsets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequenced {
    /// The event's name; handlers are registered by it.
    pub name: String,
    /// What the value is of, within the name (an entity, a sensor); empty for the name alone.
    pub key: String,
    /// Increases with every value the sender emits for a name and key.
    pub seq: u64,
    /// The event's payload, encoded with the connection's codec.
    pub data: Bytes,
}

/// A successful acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The id from the [`Event::ack`] being answered.
    pub id: u64,
    /// The reply's payload, encoded with the connection's codec.
    pub data: Bytes,
}

/// A failed acknowledgement: the receiver could not handle the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckError {
    /// The id from the [`Event::ack`] being answered.
    pub id: u64,
    /// What went wrong, for the emitter.
    pub message: String,
}

/// A request to receive a room's presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceSubscribe {
    /// The room.
    pub room: String,
}

/// A request to stop receiving a room's presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceUnsubscribe {
    /// The room.
    pub room: String,
}

/// One presence key with its metas: one meta per connection that tracks the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceEntry {
    /// The tracked key, such as a user id.
    pub key: String,
    /// The key's metas.
    pub metas: Vec<PresenceMeta>,
}

/// One connection's metadata for a presence key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceMeta {
    /// Names this meta among all metas of the room; an update gets a new id.
    pub id: u64,
    /// The metadata, encoded with the receiving connection's codec.
    pub data: Bytes,
}

/// A room's full presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceState {
    /// The room.
    pub room: String,
    /// Every key present, with all of its metas.
    pub entries: Vec<PresenceEntry>,
}

/// Part of a room's presence, when the whole does not fit one frame: the client keeps it until
/// the [`PresenceState`] that completes it. A key is in exactly one part or the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceStatePart {
    /// The room.
    pub room: String,
    /// Some of the keys present, with all of their metas.
    pub entries: Vec<PresenceEntry>,
}

/// A room's presence as counts: sent on subscription and after every change (or batch) in
/// place of the state and diffs, for rooms too large to list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceCount {
    /// The room.
    pub room: String,
    /// Keys present.
    pub keys: u64,
    /// Metas present: one per connection tracking a key.
    pub connections: u64,
}

/// A change in a room's presence. An update is the old meta leaving and the new one joining.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceDiff {
    /// The room.
    pub room: String,
    /// Metas that appeared, grouped by key.
    pub joins: Vec<PresenceEntry>,
    /// Metas that went away, grouped by key.
    pub leaves: Vec<PresenceEntry>,
}

/// The end of a presence subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceEnd {
    /// The room.
    pub room: String,
    /// Why, for the client's logs.
    pub message: String,
}

/// A liveness probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// Echoed in the [`Pong`]; lets the sender measure the round trip.
    pub id: u64,
}

/// The answer to a [`Ping`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    /// The [`Ping::id`] being answered.
    pub id: u64,
}

/// A graceful close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disconnect {
    /// Why the sender is closing.
    pub reason: DisconnectReason,
    /// A human-readable explanation.
    pub message: String,
}
