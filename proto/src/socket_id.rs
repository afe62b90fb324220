//! Socket ids.

use std::fmt;
use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A connection's id: 16 bytes, random on the server, shown as 32 lowercase hex digits.
///
/// On the wire it is 16 raw bytes with no length prefix. In a payload it is the same 16 bytes
/// for bincode, and its 32 hex digits for JSON, as a browser shows it (`socket.id`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId([u8; 16]);

impl Serialize for SocketId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for SocketId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
            text.parse().map_err(D::Error::custom)
        } else {
            <[u8; 16]>::deserialize(deserializer).map(SocketId)
        }
    }
}

impl SocketId {
    /// Wraps 16 bytes; the server draws them from the OS random source.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        SocketId(bytes)
    }

    /// The 16 bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

/// A string that is not 32 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a socket id is 32 hex digits")]
pub struct ParseSocketIdError;

impl FromStr for SocketId {
    type Err = ParseSocketIdError;

    /// Parses the 32 hex digits of [`SocketId`]'s `Display`, in either case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.as_bytes();
        if text.len() != 32 || !text.iter().all(u8::is_ascii_hexdigit) {
            return Err(ParseSocketIdError);
        }
        let digit = |c: u8| (c as char).to_digit(16).map_or(0, |d| d as u8);
        let mut bytes = [0u8; 16];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            *byte = digit(pair[0]) << 4 | digit(pair[1]);
        }
        Ok(SocketId(bytes))
    }
}

impl fmt::Debug for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SocketId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_payloads_carry_the_hex_digits_and_bincode_the_bytes() {
        let id = SocketId::from_bytes([0xab; 16]);
        let json = crate::PayloadCodec::Json.encode(&id).unwrap();
        assert_eq!(&json[..], format!("\"{}\"", "ab".repeat(16)).as_bytes());
        assert_eq!(
            crate::PayloadCodec::Json.decode::<SocketId>(&json).unwrap(),
            id
        );
        let bincode = crate::PayloadCodec::Bincode.encode(&id).unwrap();
        assert_eq!(&bincode[..], &[0xab; 16], "16 raw bytes, as in frames");
        assert_eq!(
            crate::PayloadCodec::Bincode
                .decode::<SocketId>(&bincode)
                .unwrap(),
            id
        );
        assert!(
            crate::PayloadCodec::Json
                .decode::<SocketId>(b"\"not hex\"")
                .is_err()
        );
    }

    #[test]
    fn parses_what_it_displays_and_nothing_else() {
        let id = SocketId::from_bytes([
            0x5f, 0x2b, 0x8c, 0x1e, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xfe, 0xff,
        ]);
        assert_eq!("5f2b8c1e00010203040506070809feff".parse(), Ok(id));
        assert_eq!("5F2B8C1E00010203040506070809FEFF".parse(), Ok(id));
        assert_eq!(id.to_string().parse(), Ok(id));
        for bad in [
            "",
            "5f2b",
            "5f2b8c1e00010203040506070809feff00",
            "zz2b8c1e00010203040506070809feff",
            "+f2b8c1e00010203040506070809feff",
            "é2b8c1e00010203040506070809feff",
        ] {
            assert_eq!(bad.parse::<SocketId>(), Err(ParseSocketIdError), "{bad:?}");
        }
    }
}
