//! Frame encoding and decoding: one tag byte, then the body in bincode `standard()` form.

use bincode::enc::write::SizeWriter;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::DecodeError;
use crate::frame::{ChannelGrant, ChannelOffer, Frame, Hello, Tag, Welcome};
use crate::limit::{decode_bounded, wire_config};

/// Encodes a frame as its tag byte followed by its body.
pub fn encode(frame: &Frame) -> Bytes {
    let mut out = Vec::with_capacity(frame_size_hint(frame));
    encode_into(frame, &mut out);
    Bytes::from(out)
}

/// Appends a frame's tag and body to `out`.
pub fn encode_into(frame: &Frame, out: &mut Vec<u8>) {
    out.push(frame.tag() as u8);
    match frame {
        Frame::Hello(body) => {
            write_body(body, out);
            if let Some(channels) = &body.channels {
                write_body(channels, out);
            }
        }
        Frame::Welcome(body) => {
            write_body(body, out);
            if let Some(channels) = &body.channels {
                write_body(channels, out);
            }
        }
        Frame::Reject(body) => write_body(body, out),
        Frame::Event(body) => write_body(body, out),
        Frame::Sequenced(body) => write_body(body, out),
        Frame::Ack(body) => write_body(body, out),
        Frame::AckError(body) => write_body(body, out),
        Frame::PresenceSubscribe(body) => write_body(body, out),
        Frame::PresenceUnsubscribe(body) => write_body(body, out),
        Frame::PresenceState(body) => write_body(body, out),
        Frame::PresenceDiff(body) => write_body(body, out),
        Frame::PresenceEnd(body) => write_body(body, out),
        Frame::PresenceStatePart(body) => write_body(body, out),
        Frame::PresenceCount(body) => write_body(body, out),
        Frame::Ping(body) => write_body(body, out),
        Frame::Pong(body) => write_body(body, out),
        Frame::Disconnect(body) => write_body(body, out),
    }
}

/// Decodes exactly one frame from `bytes`: the whole input, no more and no less.
///
/// Fails on an unknown tag, truncation, trailing bytes, invalid UTF-8, a length field that
/// claims more than the input holds, and integers not in their shortest form.
pub fn decode(bytes: &[u8]) -> Result<Frame, DecodeError> {
    let (&tag_byte, body) = bytes.split_first().ok_or(DecodeError::Truncated)?;
    let tag = Tag::from_byte(tag_byte).ok_or(DecodeError::UnknownTag(tag_byte))?;
    Ok(match tag {
        Tag::Hello => {
            let (mut hello, channels) = read_with_trailing::<Hello, ChannelOffer>(body)?;
            hello.channels = channels;
            Frame::Hello(hello)
        }
        Tag::Welcome => {
            let (mut welcome, channels) = read_with_trailing::<Welcome, ChannelGrant>(body)?;
            welcome.channels = channels;
            Frame::Welcome(welcome)
        }
        Tag::Reject => Frame::Reject(read_body(body)?),
        Tag::Event => Frame::Event(read_body(body)?),
        Tag::Sequenced => Frame::Sequenced(read_body(body)?),
        Tag::Ack => Frame::Ack(read_body(body)?),
        Tag::AckError => Frame::AckError(read_body(body)?),
        Tag::PresenceSubscribe => Frame::PresenceSubscribe(read_body(body)?),
        Tag::PresenceUnsubscribe => Frame::PresenceUnsubscribe(read_body(body)?),
        Tag::PresenceState => Frame::PresenceState(read_body(body)?),
        Tag::PresenceDiff => Frame::PresenceDiff(read_body(body)?),
        Tag::PresenceEnd => Frame::PresenceEnd(read_body(body)?),
        Tag::PresenceStatePart => Frame::PresenceStatePart(read_body(body)?),
        Tag::PresenceCount => Frame::PresenceCount(read_body(body)?),
        Tag::Ping => Frame::Ping(read_body(body)?),
        Tag::Pong => Frame::Pong(read_body(body)?),
        Tag::Disconnect => Frame::Disconnect(read_body(body)?),
    })
}

/// The `version` of a `Hello` frame whose rest may not decode: its tag byte, then `version` as
/// the body's first field, which every protocol version keeps (PROTOCOL.md section 10.1).
///
/// `None` when `frame` is not tagged `Hello` or its version field is not a canonical `u16`.
pub fn hello_version(frame: &[u8]) -> Option<u16> {
    let (&tag, body) = frame.split_first()?;
    if tag != Tag::Hello as u8 {
        return None;
    }
    let (version, used) = decode_bounded::<u16>(body).ok()?;
    (canonical_size(&version) == used).then_some(version)
}

/// A capacity that fits most frames without regrowth: payloads dominate.
fn frame_size_hint(frame: &Frame) -> usize {
    16 + match frame {
        Frame::Event(event) => event.name.len() + event.data.len(),
        Frame::Sequenced(event) => event.name.len() + event.key.len() + event.data.len(),
        Frame::Ack(ack) => ack.data.len(),
        _ => 48,
    }
}

fn write_body<T: Serialize>(body: &T, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail, and our frame types have no serializer that errors
    // (no maps of unknown length, no custom errors), so there is nothing to report.
    let _infallible = bincode::serde::encode_into_std_write(body, out, wire_config());
}

fn read_body<T: DeserializeOwned + Serialize>(body: &[u8]) -> Result<T, DecodeError> {
    let (value, used) = decode_bounded::<T>(body)?;
    if used != body.len() {
        return Err(DecodeError::TrailingBytes(body.len() - used));
    }
    if canonical_size(&value) != used {
        return Err(DecodeError::NonCanonical);
    }
    Ok(value)
}

/// A body and its trailing field (PROTOCOL.md section 5): after the body's last field, either
/// nothing or exactly one `U`, with no `Option` tag.
fn read_with_trailing<T, U>(body: &[u8]) -> Result<(T, Option<U>), DecodeError>
where
    T: DeserializeOwned + Serialize,
    U: DeserializeOwned + Serialize,
{
    let (value, used) = decode_bounded::<T>(body)?;
    if canonical_size(&value) != used {
        return Err(DecodeError::NonCanonical);
    }
    let trailing = &body[used..];
    let field = if trailing.is_empty() {
        None
    } else {
        Some(read_body::<U>(trailing)?)
    };
    Ok((value, field))
}

/// The size of `value`'s canonical encoding. bincode accepts over-long varints (`fb 05 00` for
/// 5); comparing with this catches every one of them, since each makes the input longer.
fn canonical_size<T: Serialize>(value: &T) -> usize {
    let mut size = SizeWriter::default();
    let _infallible = bincode::serde::encode_into_writer(value, &mut size, wire_config());
    size.bytes_written
}

/// Encodes an [`Event`](crate::Event) frame from borrowed parts: the same bytes as
/// `encode(&Frame::Event(..))` without building the owned frame first. Broadcasts use it.
pub fn encode_event(name: &str, ack: Option<u64>, data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(16 + name.len() + data.len());
    out.push(Tag::Event as u8);
    write_body(
        &EventRef {
            name,
            ack,
            data: ByteSlice(data),
        },
        &mut out,
    );
    Bytes::from(out)
}

/// Encodes a [`Sequenced`](crate::Sequenced) frame from borrowed parts, as
/// [`encode_event`] does an `Event`.
pub fn encode_sequenced(name: &str, key: &str, seq: u64, data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(24 + name.len() + key.len() + data.len());
    out.push(Tag::Sequenced as u8);
    write_body(
        &SequencedRef {
            name,
            key,
            seq,
            data: ByteSlice(data),
        },
        &mut out,
    );
    Bytes::from(out)
}

/// Encodes an [`Ack`](crate::Ack) frame from borrowed parts.
pub fn encode_ack(id: u64, data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(12 + data.len());
    out.push(Tag::Ack as u8);
    write_body(
        &AckRef {
            id,
            data: ByteSlice(data),
        },
        &mut out,
    );
    Bytes::from(out)
}

#[derive(Serialize)]
struct EventRef<'a> {
    name: &'a str,
    ack: Option<u64>,
    data: ByteSlice<'a>,
}

#[derive(Serialize)]
struct SequencedRef<'a> {
    name: &'a str,
    key: &'a str,
    seq: u64,
    data: ByteSlice<'a>,
}

#[derive(Serialize)]
struct AckRef<'a> {
    id: u64,
    data: ByteSlice<'a>,
}

/// Serializes as bytes (a length and the raw bytes), as `Bytes` does, not as a sequence.
struct ByteSlice<'a>(&'a [u8]);

impl Serialize for ByteSlice<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hello_version_reads_without_the_rest_of_the_frame() {
        // Tag 01 (Hello), then `version` as a varint, then bytes no version 1 Hello decodes.
        assert_eq!(hello_version(&[0x01, 0x02, 0xff, 0xff]), Some(2));
        assert_eq!(hello_version(&[0x01, 0xfb, 0x2c, 0x01, 0xfe]), Some(300));
        assert!(decode(&[0x01, 0x02, 0xff, 0xff]).is_err());
    }

    #[test]
    fn no_hello_version_without_a_hello_tag_or_a_canonical_varint() {
        assert_eq!(hello_version(&[]), None);
        assert_eq!(hello_version(&[0x01]), None);
        assert_eq!(hello_version(&[0x10, 0x02]), None, "an Event tag");
        assert_eq!(
            hello_version(&[0x01, 0xfb, 0x05, 0x00]),
            None,
            "5, over-long"
        );
        assert_eq!(hello_version(&[0x01, 0xfc, 0, 0, 1, 0]), None, "above u16");
    }
}
