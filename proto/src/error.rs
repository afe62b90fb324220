//! The codec's errors.

use thiserror::Error;

use crate::payload::PayloadCodec;

/// Why bytes did not decode as a frame.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended inside the frame.
    #[error("frame is truncated")]
    Truncated,
    /// The first byte names no frame.
    #[error("unknown frame tag {0:#04x}")]
    UnknownTag(u8),
    /// A declared frame length exceeds the connection's maximum; nothing was allocated for it.
    #[error("frame of {declared} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// The length the sender declared.
        declared: u64,
        /// The receiver's limit.
        max: usize,
    },
    /// A length inside the frame claims more bytes than the frame holds.
    #[error("a length inside the frame exceeds the bytes available")]
    LimitExceeded,
    /// A string is not valid UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// Bytes remain after the frame's last field.
    #[error("{0} trailing bytes after the frame")]
    TrailingBytes(usize),
    /// An integer or length is not written in its shortest form.
    #[error("integer is not in canonical (shortest) form")]
    NonCanonical,
    /// A field holds a value its type does not allow (a bool other than 0 or 1, an option
    /// tag other than 0 or 1, an unknown payload codec).
    #[error("invalid value: {0}")]
    InvalidValue(String),
}

impl From<bincode::error::DecodeError> for DecodeError {
    fn from(err: bincode::error::DecodeError) -> Self {
        use bincode::error::DecodeError as E;
        match err {
            E::UnexpectedEnd { .. } => DecodeError::Truncated,
            E::LimitExceeded => DecodeError::LimitExceeded,
            E::Utf8 { .. } => DecodeError::InvalidUtf8,
            other => DecodeError::InvalidValue(other.to_string()),
        }
    }
}

/// Why a payload did not encode or decode with its connection's codec.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The value could not be encoded.
    #[error("cannot encode payload as {codec}: {message}")]
    Encode {
        /// The connection's codec.
        codec: PayloadCodec,
        /// The serializer's explanation.
        message: String,
    },
    /// The bytes are not a valid value of the requested type.
    #[error("cannot decode {codec} payload: {message}")]
    Decode {
        /// The connection's codec.
        codec: PayloadCodec,
        /// The deserializer's explanation.
        message: String,
    },
}
