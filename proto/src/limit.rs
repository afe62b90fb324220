//! Bounded bincode decoding.
//!
//! bincode's byte limit is a const generic, so it cannot be set to each input's length. We pick
//! the smallest of a ladder of limits that covers the input: a length field inside can then
//! claim at most four times the input (and never more than [`MAX_FRAME_SIZE`]), so a 12-byte
//! frame that declares a 100 GB string fails with `LimitExceeded` before anything is allocated.

use bincode::config::{self, Configuration};
use bincode::error::DecodeError;
use serde::de::DeserializeOwned;

/// The largest frame this crate decodes, whatever a connection configures: 64 MiB.
pub const MAX_FRAME_SIZE: usize = 64 << 20;

/// The bincode configuration of the wire, without its limit.
pub(crate) fn wire_config() -> Configuration {
    config::standard()
}

/// Decodes one value from `input`, allocating at most `4 * input.len()` (at least 256) bytes
/// for what its length fields claim. Returns the value and the bytes consumed.
pub(crate) fn decode_bounded<T: DeserializeOwned>(input: &[u8]) -> Result<(T, usize), DecodeError> {
    macro_rules! ladder {
        ($($limit:literal),*) => {
            $(
                if input.len() <= $limit {
                    return bincode::serde::decode_from_slice(input, wire_config().with_limit::<$limit>());
                }
            )*
        };
    }
    ladder!(256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864);
    Err(DecodeError::LimitExceeded)
}
