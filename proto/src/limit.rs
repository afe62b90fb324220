//! Bounded bincode decoding.
//!
//! bincode's byte limit is a const generic, so it cannot be set to each input's length. bincode
//! charges the limit with each integer's in-memory size (a one-byte varint `u64` costs 8, a
//! `u128` 16) and each string's declared length, so a well-formed input never claims more than
//! 16 times its length. We pick the smallest rung of a ladder that covers 16 times the input:
//! a length field can then claim at most 64 times the input before `LimitExceeded`, so a
//! 12-byte frame that declares a 100 GB string fails before anything is allocated.

use bincode::config::{self, Configuration};
use bincode::error::DecodeError;
use serde::de::DeserializeOwned;

/// The largest frame this crate decodes, whatever a connection configures: 16 MiB.
pub const MAX_FRAME_SIZE: usize = 16 << 20;

/// How many limit bytes one input byte may claim in a well-formed value (a `u128` varint).
const CLAIM_PER_BYTE: usize = 16;

/// The bincode configuration of the wire, without its limit.
pub(crate) fn wire_config() -> Configuration {
    config::standard()
}

/// Decodes one value from `input`, allocating at most `64 * input.len()` (at least 256) bytes
/// for what its length fields claim. Returns the value and the bytes consumed.
pub(crate) fn decode_bounded<T: DeserializeOwned>(input: &[u8]) -> Result<(T, usize), DecodeError> {
    let needed = input.len().saturating_mul(CLAIM_PER_BYTE);
    macro_rules! ladder {
        ($($limit:literal),*) => {
            $(
                if needed <= $limit {
                    return bincode::serde::decode_from_slice(input, wire_config().with_limit::<$limit>());
                }
            )*
        };
    }
    ladder!(
        256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864, 268435456
    );
    Err(DecodeError::LimitExceeded)
}
