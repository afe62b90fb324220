//! The golden vectors in `proto/vectors/`, shared with the TypeScript client.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use bytes::{Bytes, BytesMut};
use quicket_proto::{
    Ack, AckError, ChannelGrant, ChannelOffer, ChannelOffset, DecodeError, Disconnect,
    DisconnectReason, Event, Frame, FrameSplitter, Hello, PayloadCodec, Ping, Pong, PresenceCount,
    PresenceDiff, PresenceEnd, PresenceEntry, PresenceMeta, PresenceState, PresenceStatePart,
    PresenceSubscribe, PresenceUnsubscribe, Reject, RejectReason, Resume, Sequenced, SocketId,
    Welcome, codec,
};
use serde_json::Value;

fn load(file: &str) -> Vec<Value> {
    let path = format!("{}/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn unhex(hex: &str) -> Vec<u8> {
    assert!(hex.len().is_multiple_of(2), "odd hex {hex}");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string in {v}"))
        .to_owned()
}

fn n(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is a number in {v}"))
}

fn b(v: &Value, key: &str) -> Bytes {
    Bytes::from(unhex(&s(v, key)))
}

fn entries(v: &Value) -> Vec<PresenceEntry> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| PresenceEntry {
            key: s(e, "key"),
            metas: e["metas"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| PresenceMeta {
                    id: n(m, "id"),
                    data: b(m, "data"),
                })
                .collect(),
        })
        .collect()
}

/// A trailing field: `null` in the vector when the frame has none. Every Hello and Welcome
/// vector names it, so a missing key is the vector's mistake.
fn optional<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let field = v
        .get(key)
        .unwrap_or_else(|| panic!("the vector has no {key:?}"));
    (!field.is_null()).then_some(field)
}

/// Builds the frame a vector describes, field by field.
fn frame(v: &Value) -> Frame {
    match s(v, "type").as_str() {
        "Hello" => Frame::Hello(Hello {
            version: n(v, "version") as u16,
            codec: match s(v, "codec").as_str() {
                "bincode" => PayloadCodec::Bincode,
                "json" => PayloadCodec::Json,
                other => panic!("codec {other}"),
            },
            client_name: s(v, "client_name"),
            client_version: s(v, "client_version"),
            max_frame_size: n(v, "max_frame_size") as u32,
            auth: b(v, "auth"),
            resume: (!v["resume"].is_null()).then(|| Resume {
                token: b(&v["resume"], "token"),
                offset: n(&v["resume"], "offset"),
            }),
            channels: optional(v, "channels").map(|c| ChannelOffer {
                max_channels: n(c, "max_channels") as u16,
                offsets: c["offsets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| ChannelOffset {
                        channel: n(o, "channel") as u16,
                        offset: n(o, "offset"),
                    })
                    .collect(),
                classes: c["classes"].as_bool().unwrap(),
            }),
        }),
        "Welcome" => Frame::Welcome(Welcome {
            sid: SocketId::from_bytes(unhex(&s(v, "sid")).try_into().unwrap()),
            ping_interval_ms: n(v, "ping_interval_ms") as u32,
            ping_timeout_ms: n(v, "ping_timeout_ms") as u32,
            max_frame_size: n(v, "max_frame_size") as u32,
            session: b(v, "session"),
            recovered: v["recovered"].as_bool().unwrap(),
            offset: n(v, "offset"),
            channels: optional(v, "channels").map(|c| ChannelGrant {
                max_channels: n(c, "max_channels") as u16,
                classes: c["classes"].as_bool().unwrap(),
            }),
        }),
        "Reject" => Frame::Reject(Reject {
            reason: RejectReason::from_code(n(v, "reason") as u16),
            message: s(v, "message"),
            data: b(v, "data"),
        }),
        "Event" => Frame::Event(Event {
            name: s(v, "name"),
            ack: v["ack"].as_u64(),
            data: b(v, "data"),
        }),
        "Sequenced" => Frame::Sequenced(Sequenced {
            name: s(v, "name"),
            key: s(v, "key"),
            seq: n(v, "seq"),
            data: b(v, "data"),
        }),
        "Ack" => Frame::Ack(Ack {
            id: n(v, "id"),
            data: b(v, "data"),
        }),
        "AckError" => Frame::AckError(AckError {
            id: n(v, "id"),
            message: s(v, "message"),
        }),
        "PresenceSubscribe" => Frame::PresenceSubscribe(PresenceSubscribe { room: s(v, "room") }),
        "PresenceUnsubscribe" => {
            Frame::PresenceUnsubscribe(PresenceUnsubscribe { room: s(v, "room") })
        }
        "PresenceState" => Frame::PresenceState(PresenceState {
            room: s(v, "room"),
            entries: entries(&v["entries"]),
        }),
        "PresenceDiff" => Frame::PresenceDiff(PresenceDiff {
            room: s(v, "room"),
            joins: entries(&v["joins"]),
            leaves: entries(&v["leaves"]),
        }),
        "PresenceEnd" => Frame::PresenceEnd(PresenceEnd {
            room: s(v, "room"),
            message: s(v, "message"),
        }),
        "PresenceCount" => Frame::PresenceCount(PresenceCount {
            room: s(v, "room"),
            keys: n(v, "keys"),
            connections: n(v, "connections"),
        }),
        "PresenceStatePart" => Frame::PresenceStatePart(PresenceStatePart {
            room: s(v, "room"),
            entries: entries(&v["entries"]),
        }),
        "Ping" => Frame::Ping(Ping { id: n(v, "id") }),
        "Pong" => Frame::Pong(Pong { id: n(v, "id") }),
        "Disconnect" => Frame::Disconnect(Disconnect {
            reason: DisconnectReason::from_code(n(v, "reason") as u16),
            message: s(v, "message"),
        }),
        other => panic!("unknown frame type {other}"),
    }
}

#[test]
fn every_frame_vector_encodes_and_decodes_byte_for_byte() {
    let vectors = load("frames.json");
    let mut types = std::collections::BTreeSet::new();
    for v in &vectors {
        let name = s(v, "name");
        let expected = frame(&v["frame"]);
        let bytes = unhex(&s(v, "hex"));
        assert_eq!(hex(&codec::encode(&expected)), s(v, "hex"), "encode {name}");
        assert_eq!(
            codec::decode(&bytes).as_ref(),
            Ok(&expected),
            "decode {name}"
        );
        if let Frame::Event(event) = &expected {
            let borrowed = codec::encode_event(&event.name, event.ack, &event.data);
            assert_eq!(hex(&borrowed), s(v, "hex"), "encode_event {name}");
        }
        if let Frame::Sequenced(event) = &expected {
            let borrowed = codec::encode_sequenced(&event.name, &event.key, event.seq, &event.data);
            assert_eq!(hex(&borrowed), s(v, "hex"), "encode_sequenced {name}");
        }
        if let Frame::Ack(ack) = &expected {
            assert_eq!(
                hex(&codec::encode_ack(ack.id, &ack.data)),
                s(v, "hex"),
                "encode_ack {name}"
            );
        }
        types.insert(expected.tag() as u8);
    }
    let all: std::collections::BTreeSet<u8> =
        quicket_proto::Tag::ALL.iter().map(|t| *t as u8).collect();
    assert_eq!(types, all, "the vectors cover every frame type");
}

fn error_kind(err: &DecodeError) -> &'static str {
    match err {
        DecodeError::Truncated => "Truncated",
        DecodeError::UnknownTag(_) => "UnknownTag",
        DecodeError::FrameTooLarge { .. } => "FrameTooLarge",
        DecodeError::LimitExceeded => "LimitExceeded",
        DecodeError::InvalidUtf8 => "InvalidUtf8",
        DecodeError::TrailingBytes(_) => "TrailingBytes",
        DecodeError::NonCanonical => "NonCanonical",
        DecodeError::InvalidValue(_) => "InvalidValue",
        _ => "unknown",
    }
}

#[test]
fn every_malformed_vector_is_refused_with_its_error() {
    for v in load("malformed.json") {
        let name = s(&v, "name");
        let result = codec::decode(&unhex(&s(&v, "hex")));
        match result {
            Ok(frame) => panic!("{name} decoded as {frame:?}"),
            Err(err) => assert_eq!(error_kind(&err), s(&v, "error"), "{name}: {err}"),
        }
    }
}

#[test]
fn every_framing_vector_splits_as_specified() {
    for v in load("framing.json") {
        let name = s(&v, "name");
        let splitter = FrameSplitter::new(n(&v, "max_frame_size") as usize);
        let mut buf = BytesMut::from(&unhex(&s(&v, "hex"))[..]);
        let mut frames = Vec::new();
        let outcome = loop {
            match splitter.split(&mut buf) {
                Ok(Some(frame)) => frames.push(hex(&frame)),
                Ok(None) => break Ok(()),
                Err(err) => break Err(error_kind(&err)),
            }
        };
        match &v["result"] {
            Value::String(need) if need == "NeedMore" => {
                assert_eq!((frames.len(), outcome), (0, Ok(())), "{name}");
            }
            Value::Object(result) if result.contains_key("error") => {
                assert_eq!(outcome, Err(result["error"].as_str().unwrap()), "{name}");
            }
            Value::Object(result) => {
                let want: Vec<String> = result["frames"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap().to_owned())
                    .collect();
                assert_eq!((frames, outcome), (want, Ok(())), "{name}");
                assert_eq!(hex(&buf), result["rest"].as_str().unwrap(), "{name} rest");
            }
            other => panic!("{name}: unknown result {other}"),
        }
    }
}

#[test]
fn payload_vectors_encode_and_decode() {
    let vectors = load("payloads.json");
    assert!(vectors.len() >= 10);
    for v in &vectors {
        let name = s(v, "name");
        let codec = match s(v, "codec").as_str() {
            "json" => PayloadCodec::Json,
            "bincode" => PayloadCodec::Bincode,
            other => panic!("{name}: codec {other}"),
        };
        let payload = Bytes::from(unhex(&s(v, "hex")));
        if let Some(binary) = v["value"]["binary"].as_str() {
            let bytes = unhex(binary);
            assert_eq!(hex(&codec.encode_binary(&bytes)), s(v, "hex"), "{name}");
            assert_eq!(codec.decode_binary(&payload).unwrap(), bytes, "{name}");
        } else {
            assert!(codec.decode_binary(&payload).is_err(), "{name}: JSON text");
            let value: Value = codec.decode(&payload).unwrap();
            assert_eq!(value, v["value"]["json"], "{name}");
        }
    }
}

#[test]
fn a_byte_sequence_whose_length_disagrees_is_not_binary() {
    let codec = PayloadCodec::Bincode;
    for bad in ["", "040102", "020102ff", "fb"] {
        let payload = Bytes::from(unhex(bad));
        assert!(codec.decode_binary(&payload).is_err(), "{bad}");
    }
}
