//! What nodes tell each other over Redis pub/sub.
//!
//! Every message is an [`Envelope`]: a kind pinned by hand (never by enum order), the sending
//! node, and a body. Bodies are bincode through quicket's payload codec, which decodes within
//! the input's length and rejects trailing bytes, so a corrupt message is an error, never a
//! huge allocation.

use std::time::Duration;

use bytes::Bytes;
use quicket_core::adapter::{
    AckOutcome, BroadcastTarget, EncodedPayload, OutgoingEvent, SocketInfo, SocketsOp, StoredMeta,
};
use quicket_core::{AckError, Delivery, PayloadCodec, PayloadError, Room, SocketId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

// The cluster protocol carries a payload as its bincode and its JSON encodings, one field each:
// a third codec needs a new message version, not a silently empty slot.
const _: () = assert!(
    PayloadCodec::COUNT == 2,
    "the cluster wire carries two codecs"
);

/// A payload as the wire carries it: its bincode and JSON encodings.
fn encoded(bincode: &Bytes, json: &Bytes) -> EncodedPayload {
    EncodedPayload::from_fn(|codec| match codec {
        PayloadCodec::Json => json.clone(),
        _ => bincode.clone(),
    })
}

/// Message kinds. Values are part of the cluster protocol: never renumber one.
pub(crate) mod kind {
    /// [`super::Broadcast`], to every node.
    pub(crate) const BROADCAST: u8 = 1;
    /// [`super::Request`], to every node; each answers with a [`REPLY`].
    pub(crate) const REQUEST: u8 = 2;
    /// [`super::Reply`], to the node that asked.
    pub(crate) const REPLY: u8 = 3;
    /// [`super::PresenceDiff`], to every node.
    pub(crate) const PRESENCE: u8 = 4;
    /// An empty body: the sender is alive.
    pub(crate) const HEARTBEAT: u8 = 5;
    /// An empty body: the sender rewrote its presence into Redis; reload its metas.
    pub(crate) const PRESENCE_RESYNC: u8 = 6;
    /// An empty body: the sender is shutting down cleanly; forget it now.
    pub(crate) const GOODBYE: u8 = 7;
    /// A relayed connection's frame, to one node (`crate::relay::RelayMessage`).
    pub(crate) const RELAY: u8 = 8;
    /// [`super::DurableBroadcast`], an entry of the durable log.
    pub(crate) const DURABLE: u8 = 9;
}

/// One message on a channel.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Envelope {
    pub(crate) kind: u8,
    pub(crate) origin: u64,
    pub(crate) body: Bytes,
}

impl Envelope {
    pub(crate) fn new(kind: u8, origin: u64, body: &impl Serialize) -> Result<Self, PayloadError> {
        Ok(Self {
            kind,
            origin,
            body: encode(body)?,
        })
    }

    pub(crate) fn empty(kind: u8, origin: u64) -> Self {
        Self {
            kind,
            origin,
            body: Bytes::new(),
        }
    }
}

pub(crate) fn encode(value: &impl Serialize) -> Result<Bytes, PayloadError> {
    PayloadCodec::Bincode.encode(value)
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PayloadError> {
    PayloadCodec::Bincode.decode(bytes)
}

/// Which sockets, as a remote node applies it: on its own sockets only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Target {
    rooms: Vec<String>,
    except_rooms: Vec<String>,
    except_sockets: Vec<SocketId>,
}

impl From<&BroadcastTarget> for Target {
    fn from(target: &BroadcastTarget) -> Self {
        let names = |rooms: &[Room]| rooms.iter().map(|r| r.as_str().to_owned()).collect();
        Self {
            rooms: names(&target.rooms),
            except_rooms: names(&target.except_rooms),
            except_sockets: target.except_sockets.clone(),
        }
    }
}

impl Target {
    /// The target on the receiving node: its own sockets.
    pub(crate) fn local(&self) -> BroadcastTarget {
        let mut target = BroadcastTarget::default();
        target.rooms = self.rooms.iter().map(Room::from).collect();
        target.except_rooms = self.except_rooms.iter().map(Room::from).collect();
        target.except_sockets.clone_from(&self.except_sockets);
        target.local = true;
        target
    }
}

/// An event's name and payload in both codecs, as every node needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Event {
    pub(crate) name: String,
    pub(crate) delivery: Class,
    /// The origin's sequence number, for the classes that stamp one.
    pub(crate) seq: u64,
    bincode: Bytes,
    json: Bytes,
}

/// [`Delivery`] as nodes tell each other; every node runs the same version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Class {
    Ordered,
    Volatile,
    Unordered,
    Sequenced,
    Latest(String),
}

impl Class {
    fn of(delivery: &Delivery) -> Self {
        match delivery {
            Delivery::Volatile => Class::Volatile,
            Delivery::Unordered => Class::Unordered,
            Delivery::Sequenced => Class::Sequenced,
            Delivery::Latest(key) => Class::Latest(key.clone()),
            _ => Class::Ordered,
        }
    }

    pub(crate) fn delivery(&self) -> Delivery {
        match self {
            Class::Ordered => Delivery::Ordered,
            Class::Volatile => Delivery::Volatile,
            Class::Unordered => Delivery::Unordered,
            Class::Sequenced => Delivery::Sequenced,
            Class::Latest(key) => Delivery::Latest(key.clone()),
        }
    }
}

impl Event {
    pub(crate) fn of(event: &OutgoingEvent<'_>) -> Result<Self, PayloadError> {
        Ok(Self {
            name: event.name().to_owned(),
            delivery: Class::of(event.delivery()),
            seq: event.seq(),
            bincode: event.payload(PayloadCodec::Bincode)?,
            json: event.payload(PayloadCodec::Json)?,
        })
    }

    pub(crate) fn payload(&self) -> EncodedPayload {
        encoded(&self.bincode, &self.json)
    }
}

/// A broadcast for every other node to deliver to its own sockets.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Broadcast {
    pub(crate) target: Target,
    pub(crate) event: Event,
}

/// An entry of the durable log: a reliable broadcast, or one socket's own emit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DurableBroadcast {
    pub(crate) target: Target,
    /// Sockets named besides the target's rooms (a socket's own emit names its socket).
    pub(crate) sockets: Vec<SocketId>,
    /// The node whose sockets alone it is for (`local()`, a socket's own emit); every
    /// node's when `None`.
    pub(crate) node: Option<u64>,
    /// The publishing node's count of entries it published, this one included.
    pub(crate) seq: u64,
    pub(crate) event: Event,
}

impl DurableBroadcast {
    /// Which of `node`'s sockets it reaches, as that node applies it.
    pub(crate) fn target_on(&self, node: u64) -> Option<BroadcastTarget> {
        if self.node.is_some_and(|only| only != node) {
            return None;
        }
        let mut target = self.target.local();
        target.sockets.clone_from(&self.sockets);
        Some(target)
    }
}

/// A question every other node answers with a [`Reply`] of the same id.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request {
    pub(crate) id: u64,
    pub(crate) ask: Ask,
}

/// What a [`Request`] asks.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Ask {
    /// Deliver with acks and collect them for `timeout_ms`.
    Acks {
        target: Target,
        event: Event,
        timeout_ms: u64,
    },
    /// Describe the targeted sockets.
    Sockets { target: Target },
    /// Apply an operation to the targeted sockets.
    Apply { target: Target, op: Op },
    /// List the rooms with sockets.
    Rooms,
    /// Run the handler of a server-side event; `reply` when the sender wants its answer.
    ServerEvent {
        name: String,
        payload: Bytes,
        reply: bool,
    },
}

/// A [`SocketsOp`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Op {
    Join(Vec<String>),
    Leave(Vec<String>),
    Disconnect,
}

impl Op {
    pub(crate) fn of(op: &SocketsOp) -> Option<Self> {
        let names = |rooms: &[Room]| rooms.iter().map(|r| r.as_str().to_owned()).collect();
        match op {
            SocketsOp::Join(rooms) => Some(Self::Join(names(rooms))),
            SocketsOp::Leave(rooms) => Some(Self::Leave(names(rooms))),
            SocketsOp::Disconnect => Some(Self::Disconnect),
            _ => None,
        }
    }

    pub(crate) fn into_op(self) -> SocketsOp {
        let rooms = |names: Vec<String>| names.into_iter().map(Room::from).collect();
        match self {
            Self::Join(names) => SocketsOp::Join(rooms(names)),
            Self::Leave(names) => SocketsOp::Leave(rooms(names)),
            Self::Disconnect => SocketsOp::Disconnect,
        }
    }
}

/// A node's answer to a [`Request`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Reply {
    pub(crate) id: u64,
    pub(crate) answer: Answer,
}

/// What a [`Reply`] says.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Answer {
    Acks(Vec<Outcome>),
    Sockets(Vec<Socket>),
    Done,
    Rooms(Vec<String>),
    ServerEvent(Result<Bytes, String>),
}

/// One socket's answer to a broadcast with acks.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Outcome {
    sid: SocketId,
    codec: PayloadCodec,
    reply: Result<Bytes, Failure>,
}

/// Why a socket's ack did not come, as much of [`AckError`] as crosses nodes.
#[derive(Debug, Serialize, Deserialize)]
enum Failure {
    Timeout(u64),
    Remote(String),
    Disconnected,
    Other(String),
}

impl From<&AckOutcome> for Outcome {
    fn from(outcome: &AckOutcome) -> Self {
        let reply = match &outcome.reply {
            Ok(bytes) => Ok(bytes.clone()),
            Err(AckError::Timeout(after)) => Err(Failure::Timeout(millis(*after))),
            Err(AckError::Remote(message)) => Err(Failure::Remote(message.clone())),
            Err(AckError::Disconnected) => Err(Failure::Disconnected),
            Err(other) => Err(Failure::Other(other.to_string())),
        };
        Self {
            sid: outcome.sid,
            codec: outcome.codec,
            reply,
        }
    }
}

impl Outcome {
    pub(crate) fn into_outcome(self) -> AckOutcome {
        let reply = self.reply.map_err(|failure| match failure {
            Failure::Timeout(ms) => AckError::Timeout(Duration::from_millis(ms)),
            Failure::Remote(message) | Failure::Other(message) => AckError::Remote(message),
            Failure::Disconnected => AckError::Disconnected,
        });
        AckOutcome {
            sid: self.sid,
            codec: self.codec,
            reply,
        }
    }
}

/// A socket as another node describes it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Socket {
    sid: SocketId,
    rooms: Vec<String>,
    data: Option<(Bytes, Bytes)>,
}

impl From<&SocketInfo> for Socket {
    fn from(info: &SocketInfo) -> Self {
        Self {
            sid: info.id,
            rooms: info.rooms.iter().map(|r| r.as_str().to_owned()).collect(),
            data: info.data.as_ref().map(|data| {
                (
                    data.get(PayloadCodec::Bincode).clone(),
                    data.get(PayloadCodec::Json).clone(),
                )
            }),
        }
    }
}

impl Socket {
    pub(crate) fn into_info(self) -> SocketInfo {
        SocketInfo::new(
            self.sid,
            self.rooms.into_iter().map(Room::from).collect(),
            self.data.map(|(bincode, json)| encoded(&bincode, &json)),
        )
    }
}

/// One presence meta, as stored in Redis and told to other nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Meta {
    pub(crate) key: String,
    pub(crate) id: u64,
    pub(crate) sid: SocketId,
    pub(crate) node: u64,
    bincode: Bytes,
    json: Bytes,
}

impl Meta {
    pub(crate) fn of(key: &str, stored: &StoredMeta, node: u64) -> Self {
        Self {
            key: key.to_owned(),
            id: stored.id,
            sid: stored.sid,
            node,
            bincode: stored.meta.get(PayloadCodec::Bincode).clone(),
            json: stored.meta.get(PayloadCodec::Json).clone(),
        }
    }

    pub(crate) fn stored(&self) -> StoredMeta {
        StoredMeta::new(self.id, self.sid, encoded(&self.bincode, &self.json))
    }
}

/// A change one node made to a room's presence.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PresenceDiff {
    pub(crate) room: String,
    pub(crate) joins: Vec<Meta>,
    /// `(key, meta id)`.
    pub(crate) leaves: Vec<(String, u64)>,
}

pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
