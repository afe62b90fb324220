//! A room's presence state as frames no larger than the subscriber accepts: one
//! `PresenceState` when it fits, else `PresenceStatePart`s and a `PresenceState` that
//! completes them (PROTOCOL.md section 10.3), so that no room is too large to subscribe to.

use bytes::Bytes;
use quicket_proto::{Frame, PresenceEntry, PresenceState, PresenceStatePart, codec};

use crate::error::EmitError;

/// Bytes a part's entry count may take beyond the empty part's one: a varint of a `u64`.
const COUNT_GROWTH: usize = 9;

/// The frames of `room`'s state, each at most `max` bytes; refused when one key alone (with
/// all of its metas) is larger.
pub(super) fn frames(
    room: &str,
    entries: Vec<PresenceEntry>,
    max: usize,
) -> Result<Vec<Bytes>, EmitError> {
    let whole = state(room, entries);
    let encoded = codec::encode(&whole);
    if encoded.len() <= max {
        return Ok(vec![encoded]);
    }
    let Frame::PresenceState(PresenceState { entries, .. }) = whole else {
        unreachable!("state() builds a PresenceState");
    };
    let empty = codec::encode(&part(room, Vec::new())).len();
    let mut chunks: Vec<Vec<PresenceEntry>> = vec![Vec::new()];
    let mut size = empty + COUNT_GROWTH;
    for entry in entries {
        let cost = codec::encode(&part(room, vec![entry.clone()])).len() - empty;
        if empty + COUNT_GROWTH + cost > max {
            return Err(EmitError::FrameTooLarge {
                size: empty + cost,
                max,
            });
        }
        if size + cost > max {
            chunks.push(Vec::new());
            size = empty + COUNT_GROWTH;
        }
        size += cost;
        if let Some(chunk) = chunks.last_mut() {
            chunk.push(entry);
        }
    }
    let last = chunks.pop().unwrap_or_default();
    let mut frames: Vec<Bytes> = chunks
        .into_iter()
        .map(|chunk| codec::encode(&part(room, chunk)))
        .collect();
    frames.push(codec::encode(&state(room, last)));
    Ok(frames)
}

fn state(room: &str, entries: Vec<PresenceEntry>) -> Frame {
    Frame::PresenceState(PresenceState {
        room: room.to_owned(),
        entries,
    })
}

fn part(room: &str, entries: Vec<PresenceEntry>) -> Frame {
    Frame::PresenceStatePart(PresenceStatePart {
        room: room.to_owned(),
        entries,
    })
}

#[cfg(test)]
mod tests {
    use quicket_proto::PresenceMeta;

    use super::*;

    fn entries(count: u64, data: usize) -> Vec<PresenceEntry> {
        (0..count)
            .map(|n| PresenceEntry {
                key: format!("user-{n:04}"),
                metas: vec![PresenceMeta {
                    id: n + 1,
                    data: Bytes::from(vec![7u8; data]),
                }],
            })
            .collect()
    }

    fn keys(frame: &Bytes) -> (bool, Vec<String>) {
        match codec::decode(frame) {
            Ok(Frame::PresenceState(state)) => {
                (true, state.entries.into_iter().map(|e| e.key).collect())
            }
            Ok(Frame::PresenceStatePart(part)) => {
                (false, part.entries.into_iter().map(|e| e.key).collect())
            }
            other => panic!("not a state frame: {other:?}"),
        }
    }

    #[test]
    fn a_state_that_fits_is_one_frame() {
        let frames = frames("lobby", entries(10, 10), 1 << 20).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(keys(&frames[0]).1.len(), 10);
    }

    #[test]
    fn a_larger_state_is_parts_then_a_state_each_within_the_limit_every_key_once() {
        let max = 4096;
        let frames = frames("lobby", entries(300, 100), max).unwrap();
        assert!(frames.len() > 1);
        let mut seen = Vec::new();
        for (at, frame) in frames.iter().enumerate() {
            assert!(frame.len() <= max, "frame {at} is {} bytes", frame.len());
            let (complete, mut keys) = keys(frame);
            assert_eq!(complete, at == frames.len() - 1, "only the last completes");
            seen.append(&mut keys);
        }
        let expected: Vec<String> = (0..300).map(|n| format!("user-{n:04}")).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn a_key_larger_than_the_limit_is_refused() {
        let refused = frames("lobby", entries(1, 5000), 4096);
        assert!(matches!(
            refused,
            Err(EmitError::FrameTooLarge { max: 4096, .. })
        ));
    }
}
