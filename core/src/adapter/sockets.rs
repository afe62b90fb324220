//! What any node can learn of, or do to, the sockets a target names.

use quicket_proto::{PayloadCodec, PayloadError, SocketId};

use super::Room;
use crate::payload::{EncodedPayload, FromPayload};

/// A socket as any node can describe it: what [`Adapter::fetch_sockets`](super::Adapter::fetch_sockets) returns, cluster-wide.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketInfo {
    /// The socket's id.
    pub id: SocketId,
    /// The rooms it is in.
    pub rooms: Vec<Room>,
    /// The data the application attached with `Socket::set_data`.
    pub data: Option<EncodedPayload>,
}

impl SocketInfo {
    /// A description of a socket.
    pub fn new(id: SocketId, rooms: Vec<Room>, data: Option<EncodedPayload>) -> Self {
        Self { id, rooms, data }
    }

    /// The socket's data decoded as `T`; `None` when it has none.
    pub fn data<T: FromPayload>(&self) -> Option<Result<T, PayloadError>> {
        let data = self.data.as_ref()?;
        Some(T::decode(
            data.get(PayloadCodec::Bincode).clone(),
            PayloadCodec::Bincode,
        ))
    }
}

/// What [`Adapter::sockets_op`](super::Adapter::sockets_op) does to every targeted socket.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketsOp {
    /// Join these rooms.
    Join(Vec<Room>),
    /// Leave these rooms.
    Leave(Vec<Room>),
    /// Disconnect.
    Disconnect,
}
