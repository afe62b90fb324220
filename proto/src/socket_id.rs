//! Socket ids.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A connection's id: 16 bytes, random on the server, shown as 32 lowercase hex digits.
///
/// On the wire it is 16 raw bytes with no length prefix.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SocketId([u8; 16]);

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

impl fmt::Debug for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SocketId({self})")
    }
}
