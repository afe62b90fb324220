//! Length-prefixed framing for ordered byte streams (a QUIC stream, a TCP socket).
//!
//! Each frame is preceded by its length as a bincode varint: one byte below 251, else `fb` and
//! a `u16`, `fc` and a `u32`, `fd` and a `u64` (little-endian), always in the shortest form. A datagram or a WebSocket message carries exactly
//! one frame and no prefix.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::DecodeError;
use crate::limit::MAX_FRAME_SIZE;

/// The longest length prefix: `fd` and eight bytes.
pub const MAX_PREFIX_LEN: usize = 9;

/// Writes `len`'s canonical prefix into the front of `out`; returns how many bytes it used.
pub fn write_length_prefix(len: usize, out: &mut [u8; MAX_PREFIX_LEN]) -> usize {
    match len {
        0..=250 => {
            out[0] = len as u8;
            1
        }
        251..=0xFFFF => {
            out[0] = 0xFB;
            out[1..3].copy_from_slice(&(len as u16).to_le_bytes());
            3
        }
        0x1_0000..=0xFFFF_FFFF => {
            out[0] = 0xFC;
            out[1..5].copy_from_slice(&(len as u32).to_le_bytes());
            5
        }
        _ => {
            out[0] = 0xFD;
            out[1..9].copy_from_slice(&(len as u64).to_le_bytes());
            9
        }
    }
}

/// Splits length-prefixed frames off the front of a stream's receive buffer.
#[derive(Debug, Clone)]
pub struct FrameSplitter {
    max_frame_size: usize,
}

impl FrameSplitter {
    /// A splitter that refuses frames longer than `max_frame_size` (capped at
    /// [`MAX_FRAME_SIZE`]).
    pub fn new(max_frame_size: usize) -> Self {
        Self {
            max_frame_size: max_frame_size.min(MAX_FRAME_SIZE),
        }
    }

    /// The largest frame accepted.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Takes the next complete frame off `buf`, without its prefix.
    ///
    /// `Ok(None)` means more bytes are needed; `buf` is left untouched then. The declared length
    /// is checked against the maximum as soon as the prefix is complete, so an oversized frame
    /// is refused before a byte of it is buffered.
    pub fn split(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, DecodeError> {
        let Some((declared, prefix_len)) = read_prefix(buf)? else {
            return Ok(None);
        };
        if declared > self.max_frame_size as u64 {
            return Err(DecodeError::FrameTooLarge {
                declared,
                max: self.max_frame_size,
            });
        }
        let len = declared as usize;
        if buf.len() < prefix_len + len {
            return Ok(None);
        }
        buf.advance(prefix_len);
        Ok(Some(buf.split_to(len).freeze()))
    }

    /// How many more bytes the frame at the front of `buf` needs, when its prefix is complete;
    /// lets a reader reserve exactly once.
    pub fn missing(&self, buf: &[u8]) -> Option<usize> {
        match read_prefix(buf) {
            Ok(Some((declared, prefix_len))) if declared <= self.max_frame_size as u64 => {
                Some((prefix_len + declared as usize).saturating_sub(buf.len()))
            }
            _ => None,
        }
    }
}

/// Reads a canonical varint length prefix: `(declared length, prefix length)`.
fn read_prefix(buf: &[u8]) -> Result<Option<(u64, usize)>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let (width, floor) = match first {
        0..=250 => return Ok(Some((u64::from(first), 1))),
        0xFB => (2, 251),
        0xFC => (4, 1 << 16),
        0xFD => (8, 1 << 32),
        other => {
            return Err(DecodeError::InvalidValue(format!(
                "length prefix byte {other:#04x}"
            )));
        }
    };
    let Some(bytes) = buf.get(1..1 + width) else {
        return Ok(None);
    };
    let mut le = [0u8; 8];
    le[..width].copy_from_slice(bytes);
    let declared = u64::from_le_bytes(le);
    if declared < floor {
        return Err(DecodeError::NonCanonical);
    }
    Ok(Some((declared, 1 + width)))
}
