//! The Hello parser: `codec::decode` of a `Hello` beside `codec::hello_version`.
//!
//! A server reads the version of a Hello that may not decode, to refuse a later protocol version
//! with `UnsupportedVersion` rather than `BadHandshake` (PROTOCOL.md section 10.1). The two
//! readings must agree: when the frame decodes as `Hello(h)`, `hello_version` is `Some(h.version)`.
//! Whenever `hello_version` gives a version, the input starts with the Hello tag and that
//! version's canonical varint; a decoded Hello re-encodes exactly, as in the `decode` target.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quicket_proto::{Frame, Ping, Tag, codec};

fuzz_target!(|data: &[u8]| {
    let version = codec::hello_version(data);
    if let Some(version) = version {
        // A Ping's body is its id alone, a varint like the version's: tag byte, then the varint.
        let varint = codec::encode(&Frame::Ping(Ping { id: version.into() }));
        assert_eq!(data.first(), Some(&(Tag::Hello as u8)));
        assert!(data[1..].starts_with(&varint[1..]), "version {version}");
    }
    if let Ok(frame) = codec::decode(data) {
        if let Frame::Hello(hello) = &frame {
            assert_eq!(version, Some(hello.version));
        }
        assert_eq!(
            codec::encode(&frame),
            data,
            "{frame:?} re-encodes differently"
        );
    }
});
