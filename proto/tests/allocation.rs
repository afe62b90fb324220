//! A hostile length never turns into a large allocation.
//!
//! This test binary counts every allocation, so a decoder that reserved what a frame claims
//! (gigabytes) would fail here rather than abort the process.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::BytesMut;
use proptest::prelude::*;
use quicket_proto::{DecodeError, FrameSplitter, PayloadCodec, codec};

struct Counting;

thread_local! {
    // Per thread, so tests running side by side do not see each other's allocations.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn record(size: usize) {
    let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
}

// SAFETY: every call is forwarded unchanged to the system allocator; we only record sizes.
#[allow(unsafe_code)] // A counting allocator needs it; the library crates deny unsafe code.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns the largest single allocation it made.
fn largest_allocation(f: impl FnOnce()) -> usize {
    LARGEST.with(|largest| largest.set(0));
    f();
    LARGEST.with(Cell::get)
}

const SMALL: usize = 2 << 20;

#[test]
fn a_frame_declaring_five_gigabytes_is_refused_without_allocating_it() {
    // Event { name: <5,000,000,000 bytes declared>, .. } in 13 bytes.
    let mut frame = vec![0x10, 0xFD];
    frame.extend_from_slice(&5_000_000_000u64.to_le_bytes());
    frame.extend_from_slice(b"abc");
    let largest = largest_allocation(|| {
        assert_eq!(codec::decode(&frame), Err(DecodeError::LimitExceeded));
    });
    assert!(largest < SMALL, "largest allocation was {largest} bytes");
}

#[test]
fn a_presence_state_declaring_a_trillion_entries_is_refused_cheaply() {
    let mut frame = vec![0x22, 0x01, b'r', 0xFD];
    frame.extend_from_slice(&(1u64 << 40).to_le_bytes());
    let largest = largest_allocation(|| {
        assert!(codec::decode(&frame).is_err());
    });
    assert!(largest < SMALL, "largest allocation was {largest} bytes");
}

#[test]
fn a_stream_prefix_declaring_three_gigabytes_is_refused_before_buffering() {
    let splitter = FrameSplitter::new(1 << 20);
    let mut stream = BytesMut::from(&[0xFC, 0x00, 0x00, 0x00, 0xC0, 0x10][..]);
    let largest = largest_allocation(|| {
        assert_eq!(
            splitter.split(&mut stream),
            Err(DecodeError::FrameTooLarge {
                declared: 3 << 30,
                max: 1 << 20
            })
        );
        assert_eq!(splitter.missing(&stream), None);
    });
    assert!(largest < SMALL, "largest allocation was {largest} bytes");
}

#[test]
fn a_bincode_payload_declaring_a_huge_string_is_refused_cheaply() {
    let mut payload = vec![0xFD];
    payload.extend_from_slice(&100_000_000_000u64.to_le_bytes());
    let largest = largest_allocation(|| {
        assert!(PayloadCodec::Bincode.decode::<String>(&payload).is_err());
        assert!(
            PayloadCodec::Bincode
                .decode::<Vec<String>>(&payload)
                .is_err()
        );
    });
    assert!(largest < SMALL, "largest allocation was {largest} bytes");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Whatever the bytes claim, decoding allocates at most a small multiple of the input, plus
    /// serde's fixed cap on speculative `Vec` capacity (1 MiB).
    #[test]
    fn decoding_arbitrary_bytes_never_over_allocates(
        tag in prop_oneof![Just(0x01u8), Just(0x03), Just(0x10), Just(0x11), Just(0x22), Just(0x23), any::<u8>()],
        body in proptest::collection::vec(any::<u8>(), 0..96),
    ) {
        let mut input = vec![tag];
        input.extend_from_slice(&body);
        let largest = largest_allocation(|| {
            let _ = codec::decode(&input);
            let _ = PayloadCodec::Bincode.decode::<Vec<(String, Vec<u8>)>>(&body);
        });
        prop_assert!(largest <= 64 * input.len().max(4) + (1 << 20), "{largest} bytes for {} input bytes", input.len());
    }
}
