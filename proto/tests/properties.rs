//! Properties over arbitrary input: decoding never panics, encoding round-trips.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use quicket_proto::framing::{MAX_PREFIX_LEN, write_length_prefix};
use quicket_proto::{
    Ack, ChannelOffer, ChannelOffset, Disconnect, DisconnectReason, Event, Frame, FrameSplitter,
    Hello, PayloadCodec, Ping, PresenceDiff, PresenceEntry, PresenceMeta, codec,
};

fn bytes() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

fn entry() -> impl Strategy<Value = PresenceEntry> {
    (
        ".{0,8}",
        proptest::collection::vec((any::<u64>(), bytes()), 0..3),
    )
        .prop_map(|(key, metas)| PresenceEntry {
            key,
            metas: metas
                .into_iter()
                .map(|(id, data)| PresenceMeta { id, data })
                .collect(),
        })
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (".{0,16}", proptest::option::of(any::<u64>()), bytes())
            .prop_map(|(name, ack, data)| Frame::Event(Event { name, ack, data })),
        (any::<u64>(), bytes()).prop_map(|(id, data)| Frame::Ack(Ack { id, data })),
        any::<u64>().prop_map(|id| Frame::Ping(Ping { id })),
        (any::<u16>(), ".{0,16}").prop_map(|(code, message)| Frame::Disconnect(Disconnect {
            reason: DisconnectReason::from_code(code),
            message
        })),
        (
            ".{0,8}",
            proptest::collection::vec(entry(), 0..3),
            proptest::collection::vec(entry(), 0..3)
        )
            .prop_map(|(room, joins, leaves)| Frame::PresenceDiff(PresenceDiff {
                room,
                joins,
                leaves
            })),
        (any::<u16>(), proptest::option::of(channel_offer())).prop_map(|(max, channels)| {
            Frame::Hello(Hello {
                version: 1,
                codec: PayloadCodec::Json,
                client_name: "p".into(),
                client_version: "1".into(),
                max_frame_size: u32::from(max),
                auth: Bytes::new(),
                resume: None,
                channels,
            })
        }),
    ]
}

/// A trailing field: present or absent, it must round-trip without an `Option` tag.
fn channel_offer() -> impl Strategy<Value = ChannelOffer> {
    (
        any::<u16>(),
        proptest::collection::vec((any::<u16>(), any::<u64>()), 0..4),
        any::<bool>(),
    )
        .prop_map(|(max_channels, offsets, classes)| ChannelOffer {
            classes,
            max_channels,
            offsets: offsets
                .into_iter()
                .map(|(channel, offset)| ChannelOffset { channel, offset })
                .collect(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(input in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = codec::decode(&input);
        let _ = PayloadCodec::Bincode.decode::<(String, Vec<u64>, Option<bool>)>(&input);
        let _ = PayloadCodec::Json.decode::<serde_json::Value>(&input);
        let mut buf = BytesMut::from(&input[..]);
        while let Ok(Some(_)) = FrameSplitter::new(1024).split(&mut buf) {}
    }

    #[test]
    fn a_tagged_arbitrary_body_never_panics(tag in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..128)) {
        let mut input = vec![tag];
        input.extend_from_slice(&body);
        let _ = codec::decode(&input);
    }

    #[test]
    fn every_frame_round_trips(frame in frame()) {
        let encoded = codec::encode(&frame);
        prop_assert_eq!(codec::decode(&encoded), Ok(frame));
    }

    #[test]
    fn a_stream_of_frames_splits_back_at_every_cut(frames in proptest::collection::vec(frame(), 1..5), cut in any::<usize>()) {
        let mut stream = Vec::new();
        for frame in &frames {
            let body = codec::encode(frame);
            let mut prefix = [0u8; MAX_PREFIX_LEN];
            let n = write_length_prefix(body.len(), &mut prefix);
            stream.extend_from_slice(&prefix[..n]);
            stream.extend_from_slice(&body);
        }
        // Deliver the stream in two reads split at an arbitrary point.
        let cut = cut % (stream.len() + 1);
        let splitter = FrameSplitter::new(1 << 20);
        let mut buf = BytesMut::from(&stream[..cut]);
        let mut decoded = Vec::new();
        while let Some(body) = splitter.split(&mut buf).unwrap() {
            decoded.push(codec::decode(&body).unwrap());
        }
        buf.extend_from_slice(&stream[cut..]);
        while let Some(body) = splitter.split(&mut buf).unwrap() {
            decoded.push(codec::decode(&body).unwrap());
        }
        prop_assert_eq!(decoded, frames);
        prop_assert!(buf.is_empty());
    }
}
