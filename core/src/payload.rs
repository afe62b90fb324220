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

/// A byte string carried as binary data (PROTOCOL.md section 7): as it is to a browser (a
/// `Uint8Array` there, no base64), and as a bincode byte sequence to a Rust peer.
///
/// `socket.emit("frame", Binary(jpeg))` reaches a page's handler as a `Uint8Array`, and a
/// handler taking `Data<Binary>` receives what a page emitted as one. Unlike [`Raw`], the
/// bytes are wrapped for the connection's codec, so every peer reads them as bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Binary(pub Bytes);

/// A value that can be encoded as a payload with any codec.
///
/// Implemented for every `Serialize` type, [`Raw`] and [`Binary`].
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

impl IntoPayload for Binary {
    fn encode(&self, codec: PayloadCodec) -> Result<Bytes, PayloadError> {
        Ok(codec.encode_binary(&self.0))
    }
}

/// A value that can be decoded from a payload.
///
/// Implemented for every `DeserializeOwned` type, [`Raw`] and [`Binary`].
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

impl FromPayload for Binary {
    fn decode(bytes: Bytes, codec: PayloadCodec) -> Result<Self, PayloadError> {
        codec.decode_binary(&bytes).map(Binary)
    }
}

/// A payload encoded once with every codec, so each receiver gets its own without re-encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPayload {
    by_codec: [Bytes; PayloadCodec::COUNT],
}

impl EncodedPayload {
    /// Encodes a payload with every codec.
    pub fn encode(meta: &dyn IntoPayload) -> Result<Self, PayloadError> {
        let mut by_codec: [Bytes; PayloadCodec::COUNT] = Default::default();
        for codec in PayloadCodec::ALL {
            by_codec[codec.index()] = meta.encode(codec)?;
        }
        Ok(Self { by_codec })
    }

    /// A payload already encoded with each codec, as another node sent it: `part` gives the
    /// bytes for each codec in turn, so a table of them never assumes how many codecs there are.
    pub fn from_fn(mut part: impl FnMut(PayloadCodec) -> Bytes) -> Self {
        let mut by_codec: [Bytes; PayloadCodec::COUNT] = Default::default();
        for codec in PayloadCodec::ALL {
            by_codec[codec.index()] = part(codec);
        }
        Self { by_codec }
    }

    /// The payload encoded with `codec`.
    pub fn get(&self, codec: PayloadCodec) -> &Bytes {
        &self.by_codec[codec.index()]
    }
}

impl IntoPayload for EncodedPayload {
    fn encode(&self, codec: PayloadCodec) -> Result<Bytes, PayloadError> {
        Ok(self.get(codec).clone())
    }
}
