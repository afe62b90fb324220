//! What the server answers on a WebTransport stream whose first bytes are not a `Hello` it can
//! take: a frame saying why (PROTOCOL.md section 10.1), then the close.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

mod common;

use std::time::Duration;

use bytes::BytesMut;
use common::within;
use quicket_core::{Server, ServerConfig};
use quicket_proto::{DisconnectReason, Frame, FrameSplitter, MAX_FRAME_SIZE, RejectReason, codec};

/// Opens the reliable stream on a raw session, writes `first`, and returns every frame the
/// server sends before it ends the stream.
async fn answer_to(first: &[u8]) -> Vec<Frame> {
    let config = ServerConfig::default().handshake_timeout(Duration::from_millis(300));
    let server = Server::builder().config(config).build();
    let quic = common::serve(&server).await;
    let session = common::raw_session(&quic).await;
    let (mut send, mut recv) = within("the stream", async {
        session.open_bi().await.unwrap().await.unwrap()
    })
    .await;
    send.write_all(first).await.unwrap();
    let splitter = FrameSplitter::new(MAX_FRAME_SIZE);
    let (mut buffer, mut frames, mut chunk) = (BytesMut::new(), Vec::new(), [0u8; 4096]);
    // The stream ends, or the session closes, once the server has said why.
    while let Ok(Some(read)) = within("the server's answer", recv.read(&mut chunk)).await {
        buffer.extend_from_slice(&chunk[..read]);
        while let Some(frame) = splitter.split(&mut buffer).unwrap() {
            frames.push(codec::decode(&frame).unwrap());
        }
    }
    frames
}

fn reject_reason(frames: &[Frame]) -> Option<RejectReason> {
    match frames {
        [Frame::Reject(reject)] => Some(reject.reason),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_hello_gets_disconnect_handshake_timeout() {
    // A length prefix of 9, and two bytes of the frame.
    let frames = answer_to(&[0x09, 0x01, 0x01]).await;
    match &frames[..] {
        [Frame::Disconnect(bye)] => assert_eq!(bye.reason, DisconnectReason::HandshakeTimeout),
        other => panic!("expected Disconnect{{HandshakeTimeout}}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_length_prefix_gets_bad_handshake() {
    // `fe` never starts a length prefix (section 2.1).
    let frames = answer_to(&[0xfe, 0x00, 0x01]).await;
    assert_eq!(
        reject_reason(&frames),
        Some(RejectReason::BadHandshake),
        "{frames:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_length_prefix_above_the_frame_limit_gets_bad_handshake() {
    // 4 GiB, in a u64 prefix.
    let mut first = vec![0xfd];
    first.extend_from_slice(&(4u64 << 30).to_le_bytes());
    let frames = answer_to(&first).await;
    assert_eq!(
        reject_reason(&frames),
        Some(RejectReason::BadHandshake),
        "{frames:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_versions_hello_gets_unsupported_version() {
    // Prefix 4, then tag 01 (Hello), version 2, and bytes version 1 cannot decode.
    let frames = answer_to(&[0x04, 0x01, 0x02, 0xff, 0xff]).await;
    assert_eq!(
        reject_reason(&frames),
        Some(RejectReason::UnsupportedVersion),
        "{frames:?}"
    );
}
