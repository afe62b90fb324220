//! Payload codecs, negotiated per connection in the handshake.

use std::fmt;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::PayloadError;
use crate::limit::{decode_bounded, wire_config};

/// The first byte of a binary payload under json (PROTOCOL.md section 7): JSON text never
/// starts with it.
pub const BINARY_MARKER: u8 = 0x00;

/// How event, ack, auth and presence payloads are encoded on one connection.
///
/// Rust peers use [`PayloadCodec::Bincode`]; browsers use [`PayloadCodec::Json`]. On the wire it is
/// one raw byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PayloadCodec {
    /// bincode 2 `standard()`, the same rules as the frames.
    Bincode,
    /// UTF-8 JSON text.
    Json,
}

impl PayloadCodec {
    /// Every codec, in wire order.
    pub const ALL: [PayloadCodec; 2] = [PayloadCodec::Bincode, PayloadCodec::Json];

    /// How many codecs there are: the size of a table with one slot per codec.
    pub const COUNT: usize = Self::ALL.len();

    /// The codec's slot in a table of [`PayloadCodec::COUNT`], its place in
    /// [`PayloadCodec::ALL`].
    pub const fn index(self) -> usize {
        match self {
            PayloadCodec::Bincode => 0,
            PayloadCodec::Json => 1,
        }
    }

    /// The codec's byte on the wire.
    pub const fn id(self) -> u8 {
        match self {
            PayloadCodec::Bincode => 0,
            PayloadCodec::Json => 1,
        }
    }

    /// The codec for a wire byte, if it names one.
    pub fn from_id(id: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|codec| codec.id() == id)
    }

    /// Encodes a value.
    pub fn encode<T: Serialize + ?Sized>(self, value: &T) -> Result<Bytes, PayloadError> {
        let encoded = match self {
            PayloadCodec::Bincode => {
                bincode::serde::encode_to_vec(value, wire_config()).map_err(|e| e.to_string())
            }
            PayloadCodec::Json => serde_json::to_vec(value).map_err(|e| e.to_string()),
        };
        encoded
            .map(Bytes::from)
            .map_err(|message| PayloadError::Encode {
                codec: self,
                message,
            })
    }

    /// A byte string as a payload (PROTOCOL.md section 7): under json the byte
    /// [`BINARY_MARKER`] and the bytes, under bincode a byte sequence (a varint length, then
    /// the bytes).
    pub fn encode_binary(self, data: &[u8]) -> Bytes {
        let mut payload = match self {
            PayloadCodec::Json => vec![BINARY_MARKER],
            PayloadCodec::Bincode => {
                // A length always encodes: a varint of at most 9 bytes.
                bincode::serde::encode_to_vec(data.len() as u64, wire_config()).unwrap_or_default()
            }
        };
        payload.extend_from_slice(data);
        Bytes::from(payload)
    }

    /// The byte string a binary payload carries, without copying it; an error for a payload
    /// that is not one.
    pub fn decode_binary(self, payload: &Bytes) -> Result<Bytes, PayloadError> {
        let refuse = |message: String| PayloadError::Decode {
            codec: self,
            message,
        };
        match self {
            PayloadCodec::Json => match payload.first() {
                Some(&BINARY_MARKER) => Ok(payload.slice(1..)),
                _ => Err(refuse("not a binary payload: it is JSON text".into())),
            },
            PayloadCodec::Bincode => {
                let (declared, used) = decode_bounded::<u64>(payload)
                    .map_err(|err| refuse(format!("no byte-sequence length: {err}")))?;
                let carried = (payload.len() - used) as u64;
                if declared != carried {
                    return Err(refuse(format!(
                        "a byte sequence of {declared} bytes in {carried} bytes"
                    )));
                }
                Ok(payload.slice(used..))
            }
        }
    }

    /// Decodes a value, rejecting trailing bytes. Length fields cannot make it allocate more
    /// than a small multiple of `bytes.len()`.
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, PayloadError> {
        let decoded = match self {
            PayloadCodec::Bincode => match decode_bounded::<T>(bytes) {
                Ok((value, used)) if used == bytes.len() => Ok(value),
                Ok((_, used)) => Err(format!("{} trailing bytes", bytes.len() - used)),
                Err(err) => Err(err.to_string()),
            },
            PayloadCodec::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        };
        decoded.map_err(|message| PayloadError::Decode {
            codec: self,
            message,
        })
    }
}

impl fmt::Display for PayloadCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PayloadCodec::Bincode => "bincode",
            PayloadCodec::Json => "json",
        })
    }
}

impl Serialize for PayloadCodec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.id())
    }
}

impl<'de> Deserialize<'de> for PayloadCodec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = u8::deserialize(deserializer)?;
        PayloadCodec::from_id(id)
            .ok_or_else(|| serde::de::Error::custom(format_args!("unknown payload codec {id}")))
    }
}
