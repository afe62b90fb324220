//! The presence frames (`PresenceSubscribe`, `PresenceUnsubscribe`, `PresenceState`,
//! `PresenceDiff`, `PresenceEnd`, `PresenceStatePart`, `PresenceCount`) and their nested entries
//! and metas, both ways round; the first byte chooses.
//!
//! Bytes first, when it is a presence tag (as in every seed, the vectors' presence frames): a
//! frame that decodes re-encodes exactly, as in the `decode` target.
//!
//! Frames first, for any other first byte: the rest, read by `arbitrary`, builds a presence frame
//! that must decode from its encoding as itself. This half reaches values the other cannot
//! easily: the wire writes integers as varints, so libFuzzer, which copies the operands of the
//! program's comparisons into the input's raw bytes, cannot steer a meta id there, while
//! `arbitrary` takes each integer from raw bytes.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use quicket_proto::{
    Frame, PresenceCount, PresenceDiff, PresenceEnd, PresenceEntry, PresenceMeta, PresenceState,
    PresenceStatePart, PresenceSubscribe, PresenceUnsubscribe, Tag, codec,
};

const PRESENCE_TAGS: [Tag; 7] = [
    Tag::PresenceSubscribe,
    Tag::PresenceUnsubscribe,
    Tag::PresenceState,
    Tag::PresenceDiff,
    Tag::PresenceEnd,
    Tag::PresenceStatePart,
    Tag::PresenceCount,
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    if PRESENCE_TAGS.iter().any(|tag| *tag as u8 == first) {
        if let Ok(frame) = codec::decode(data) {
            assert_eq!(
                codec::encode(&frame),
                data,
                "{frame:?} re-encodes differently"
            );
        }
    } else if let Ok(frame) = presence_frame(&mut Unstructured::new(rest)) {
        assert_eq!(codec::decode(&codec::encode(&frame)), Ok(frame));
    }
});

/// A presence frame of any kind, with any strings, counts, ids and payloads.
fn presence_frame(u: &mut Unstructured<'_>) -> Result<Frame> {
    let room = u.arbitrary()?;
    Ok(match u.choose(&PRESENCE_TAGS)? {
        Tag::PresenceSubscribe => Frame::PresenceSubscribe(PresenceSubscribe { room }),
        Tag::PresenceUnsubscribe => Frame::PresenceUnsubscribe(PresenceUnsubscribe { room }),
        Tag::PresenceState => Frame::PresenceState(PresenceState {
            room,
            entries: entries(u)?,
        }),
        Tag::PresenceDiff => Frame::PresenceDiff(PresenceDiff {
            room,
            joins: entries(u)?,
            leaves: entries(u)?,
        }),
        Tag::PresenceStatePart => Frame::PresenceStatePart(PresenceStatePart {
            room,
            entries: entries(u)?,
        }),
        Tag::PresenceCount => Frame::PresenceCount(PresenceCount {
            room,
            keys: u.arbitrary()?,
            connections: u.arbitrary()?,
        }),
        _ => Frame::PresenceEnd(PresenceEnd {
            room,
            message: u.arbitrary()?,
        }),
    })
}

/// An entry as `arbitrary` builds it: a key, then each meta's id and payload.
type RawEntry = (String, Vec<(u64, Vec<u8>)>);

fn entries(u: &mut Unstructured<'_>) -> Result<Vec<PresenceEntry>> {
    let entries: Vec<RawEntry> = u.arbitrary()?;
    Ok(entries
        .into_iter()
        .map(|(key, metas)| PresenceEntry {
            key,
            metas: metas
                .into_iter()
                .map(|(id, data)| PresenceMeta {
                    id,
                    data: data.into(),
                })
                .collect(),
        })
        .collect())
}
