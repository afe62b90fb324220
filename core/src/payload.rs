//! What can be sent as a payload, and what a payload can be read as.

use bytes::Bytes;
use quicket_proto::{PayloadCodec, PayloadError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Bytes that bypass the payload codec in both directions: an IoT blob, a pre-encoded message.
///
/// `socket.emit("blob", Raw(bytes))` sends `bytes` as the event's data untouched, and a handler
/// taking `Data<Raw>` receives the data as it arrived.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Raw(pub Bytes);

/// A value that can be encoded as a payload with any codec.
///
/// Implemented for every `Serialize` type and for [`Raw`].
pub trait IntoPayload {
    /// Encodes the value with `codec`.
    fn encode(&self, codec: PayloadCodec) -> Result<Bytes, PayloadError>;
}

impl<T: Serialize + ?Sized> IntoPayload for T {
    fn encode(&self, codec: PayloadCodec) -> Result<Bytes, PayloadError> {
        codec.encode(self)
    }
}

impl IntoPayload for Raw {
    fn encode(&self, _codec: PayloadCodec) -> Result<Bytes, PayloadError> {
        Ok(self.0.clone())
    }
}

/// A value that can be decoded from a payload.
///
/// Implemented for every `DeserializeOwned` type and for [`Raw`].
pub trait FromPayload: Sized {
    /// Decodes `bytes`, which were encoded with `codec`.
    fn decode(bytes: Bytes, codec: PayloadCodec) -> Result<Self, PayloadError>;
}

impl<T: DeserializeOwned> FromPayload for T {
    fn decode(bytes: Bytes, codec: PayloadCodec) -> Result<Self, PayloadError> {
        codec.decode(&bytes)
    }
}

impl FromPayload for Raw {
    fn decode(bytes: Bytes, _codec: PayloadCodec) -> Result<Self, PayloadError> {
        Ok(Raw(bytes))
    }
}
