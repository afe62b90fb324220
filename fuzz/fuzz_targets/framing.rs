//! The stream framing reader: `FrameSplitter` fed a stream in arbitrary chunks.
//!
//! A transport hands the reader whatever the network delivered, so the frames must not depend on
//! where the stream was cut: splitting chunk by chunk must yield exactly the frames, and end in
//! the same error or the same buffered rest, as splitting the whole stream at once. When the
//! splitter asks for more bytes it must leave the buffer as it was, and the buffer must hold less
//! than one largest frame with its prefix (or than the longest prefix, while the prefix is still
//! incomplete): it never sits on a complete frame, and a peer cannot make it buffer more.
//!
//! Input: `max_frame_size` as a little-endian `u32`, a count `n`, `n` chunk sizes (each byte
//! plus one, used in turn; none means one chunk), then the stream.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use quicket_proto::framing::{MAX_PREFIX_LEN, write_length_prefix};
use quicket_proto::{DecodeError, FrameSplitter};

fuzz_target!(|data: &[u8]| {
    let Some((max, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let Some((&n, rest)) = rest.split_first() else {
        return;
    };
    let (sizes, stream) = rest.split_at(usize::from(n).min(rest.len()));
    let splitter = FrameSplitter::new(u32::from_le_bytes(*max) as usize);

    let mut sizes = sizes.iter().cycle();
    let mut left = stream;
    let chunks = std::iter::from_fn(|| {
        let size = sizes
            .next()
            .map_or(left.len(), |&size| usize::from(size) + 1);
        let (chunk, after) = left.split_at(size.min(left.len()));
        left = after;
        (!chunk.is_empty()).then_some(chunk)
    });
    assert_eq!(split(&splitter, chunks), split(&splitter, [stream]));
});

/// Feeds `chunks` to `splitter` as a reader does, appending each and taking every complete
/// frame; returns the frames, then the error or the bytes left buffered.
fn split<'a>(
    splitter: &FrameSplitter,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<Bytes>, Result<BytesMut, DecodeError>) {
    let max = splitter.max_frame_size();
    let most = (max + write_length_prefix(max, &mut [0; MAX_PREFIX_LEN])).max(MAX_PREFIX_LEN);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let before = buf.clone();
            match splitter.split(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => {
                    assert_eq!(buf, before, "a split that needs more bytes took some");
                    assert!(buf.len() < most, "{} bytes held, at most {most}", buf.len());
                    assert_ne!(splitter.missing(&buf), Some(0), "missing none, split none");
                    break;
                }
                Err(err) => return (frames, Err(err)),
            }
        }
    }
    (frames, Ok(buf))
}
