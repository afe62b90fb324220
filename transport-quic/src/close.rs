//! Disconnect reasons as QUIC application close codes, and back.
//!
//! wtransport 0.7 closes a session by closing its QUIC connection with an application error
//! code. quicket's codes live in their own range, clear of HTTP/3's, so a peer can tell a
//! quicket close (and its reason) from any other.

use quicket_core::DisconnectReason;
use wtransport::VarInt;

/// The first of quicket's close codes: `0x5154_0000 + reason code`.
pub const CLOSE_CODE_BASE: u32 = 0x5154_0000;

/// The QUIC application close code for a disconnect reason.
pub fn close_code(reason: DisconnectReason) -> VarInt {
    VarInt::from_u32(CLOSE_CODE_BASE + u32::from(reason.code()))
}

/// The disconnect reason a close code carries, if it is one of quicket's.
pub fn close_reason(code: VarInt) -> Option<DisconnectReason> {
    let offset = code.into_inner().checked_sub(u64::from(CLOSE_CODE_BASE))?;
    u16::try_from(offset).ok().map(DisconnectReason::from_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips_through_its_close_code() {
        for code in 0..=20u16 {
            let reason = DisconnectReason::from_code(code);
            assert_eq!(close_reason(close_code(reason)), Some(reason));
        }
        assert_eq!(
            close_reason(VarInt::from_u32(0x100)),
            None,
            "an HTTP/3 code is not ours"
        );
    }
}
