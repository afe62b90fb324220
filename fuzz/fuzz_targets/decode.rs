//! The frame decoder on arbitrary bytes: a frame that decodes is re-encoded exactly.
//!
//! `codec::decode` is canonical (it refuses trailing bytes and over-long varints), so every input
//! it accepts is the one encoding of its frame: `encode(decode(x)) == x`. A difference means two
//! byte strings decode to the same frame, or a field that does not survive the trip. The
//! borrowed-parts encoders that broadcasts use must give the same bytes as `encode`.
//! Panics, overflows and memory blow-ups on any input are findings as well.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quicket_proto::{Frame, codec};

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = codec::decode(data) else {
        return;
    };
    assert_eq!(
        codec::encode(&frame),
        data,
        "{frame:?} re-encodes differently"
    );
    match &frame {
        Frame::Event(event) => {
            assert_eq!(
                codec::encode_event(&event.name, event.ack, &event.data),
                data
            );
        }
        Frame::Ack(ack) => assert_eq!(codec::encode_ack(ack.id, &ack.data), data),
        _ => {}
    }
});
