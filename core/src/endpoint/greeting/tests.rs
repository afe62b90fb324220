//! The handshake's decisions, checked against PROTOCOL.md sections 8 and 10.1 with no socket
//! and no clock.

use std::time::{Duration, Instant};

use bytes::Bytes;
use quicket_proto::{
    Disconnect, DisconnectReason, Frame, Hello, PROTOCOL_VERSION, PayloadCodec, Ping, Reject,
    RejectReason, SocketId, Welcome, codec,
};

use super::{Greeting, LastWords, Refusal};
use crate::config::ConnectionLimits;
use crate::error::ConnectError;
use crate::transport::{Incoming, TransportError};

fn greeting() -> Greeting {
    Greeting::new(Duration::from_secs(10), Instant::now())
}

fn hello() -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        codec: PayloadCodec::Bincode,
        client_name: "quicket-test".to_owned(),
        client_version: "1.0".to_owned(),
        max_frame_size: 1 << 20,
        auth: Bytes::from_static(b"token"),
        resume: None,
        channels: None,
    }
}

fn frame(frame: &Frame) -> Result<Incoming, TransportError> {
    Ok(Incoming::Frame(codec::encode(frame)))
}

/// The server's reading of `read` under the default limits.
fn server_reads(read: Result<Incoming, TransportError>) -> Result<Hello, Refusal> {
    greeting().hello(read, &ConnectionLimits::default())
}

/// The `Reject` reason a refusal sends, if it sends one.
fn rejected_with(refusal: Refusal) -> Option<RejectReason> {
    match refusal.last_words()?.frame {
        Frame::Reject(reject) => Some(reject.reason),
        _ => None,
    }
}

#[test]
fn the_deadline_is_the_timeout_after_the_start() {
    let start = Instant::now();
    let greeting = Greeting::new(Duration::from_secs(10), start);
    assert_eq!(greeting.deadline(), start + Duration::from_secs(10));
}

#[test]
fn a_well_formed_hello_is_accepted_as_sent() {
    assert_eq!(server_reads(frame(&Frame::Hello(hello()))), Ok(hello()));
}

#[test]
fn a_hello_of_another_version_is_unsupported() {
    let later = Hello {
        version: PROTOCOL_VERSION + 1,
        ..hello()
    };
    let refusal = server_reads(frame(&Frame::Hello(later))).unwrap_err();
    assert_eq!(
        rejected_with(refusal),
        Some(RejectReason::UnsupportedVersion)
    );
}

#[test]
fn a_later_hello_that_does_not_decode_is_unsupported_by_its_version() {
    // A later version keeps tag 01 and `version` first, and may add fields after.
    let later = Hello {
        version: PROTOCOL_VERSION + 1,
        ..hello()
    };
    let mut bytes = codec::encode(&Frame::Hello(later)).to_vec();
    bytes.extend_from_slice(&[0x2a, 0x2a]);
    let read = Ok(Incoming::Frame(Bytes::from(bytes)));
    let refusal = server_reads(read).unwrap_err();
    assert_eq!(
        rejected_with(refusal),
        Some(RejectReason::UnsupportedVersion)
    );
}

#[test]
fn a_first_frame_other_than_hello_is_a_bad_handshake() {
    let refusal = server_reads(frame(&Frame::Ping(Ping { id: 1 }))).unwrap_err();
    assert_eq!(rejected_with(refusal), Some(RejectReason::BadHandshake));
}

#[test]
fn undecodable_first_bytes_are_a_bad_handshake() {
    let read = Ok(Incoming::Frame(Bytes::from_static(&[0xee, 0x01])));
    let refusal = server_reads(read).unwrap_err();
    assert_eq!(rejected_with(refusal), Some(RejectReason::BadHandshake));
}

#[test]
fn a_datagram_before_the_hello_is_a_bad_handshake() {
    let read = Ok(Incoming::Datagram(Bytes::from_static(b"early")));
    let refusal = server_reads(read).unwrap_err();
    assert_eq!(rejected_with(refusal), Some(RejectReason::BadHandshake));
}

#[test]
fn first_bytes_that_are_no_frame_get_a_bad_handshake_and_close_with_their_reason() {
    let too_large = TransportError::FrameTooLarge {
        declared: 32 << 20,
        max: 1 << 20,
    };
    let malformed = TransportError::Malformed("a length prefix that is not a varint".to_owned());
    for (read, close) in [
        (too_large, DisconnectReason::FrameTooLarge),
        (malformed, DisconnectReason::ProtocolError),
    ] {
        let last = server_reads(Err(read)).unwrap_err().last_words().unwrap();
        assert!(matches!(
            last.frame,
            Frame::Reject(Reject {
                reason: RejectReason::BadHandshake,
                ..
            })
        ));
        assert_eq!(last.reason, close);
    }
}

#[test]
fn a_client_gone_before_its_hello_is_told_nothing() {
    let refusal = server_reads(Err(TransportError::Closed)).unwrap_err();
    assert_eq!(refusal, Refusal::Gone);
    assert_eq!(refusal.last_words(), None);
}

#[test]
fn a_frame_limit_below_one_kib_is_refused_and_one_kib_is_not() {
    let small = Hello {
        max_frame_size: 1023,
        ..hello()
    };
    let refusal = server_reads(frame(&Frame::Hello(small))).unwrap_err();
    assert_eq!(rejected_with(refusal), Some(RejectReason::BadHandshake));
    let least = Hello {
        max_frame_size: 1024,
        ..hello()
    };
    assert!(server_reads(frame(&Frame::Hello(least))).is_ok());
}

#[test]
fn fields_over_the_servers_limits_are_refused() {
    let limits = ConnectionLimits::default();
    let long_name = Hello {
        client_name: "n".repeat(limits.max_client_info_len + 1),
        ..hello()
    };
    let long_version = Hello {
        client_version: "v".repeat(limits.max_client_info_len + 1),
        ..hello()
    };
    let large_auth = Hello {
        auth: Bytes::from(vec![0; limits.max_auth_size + 1]),
        ..hello()
    };
    for hello in [long_name, long_version, large_auth] {
        let refusal = server_reads(frame(&Frame::Hello(hello))).unwrap_err();
        assert_eq!(rejected_with(refusal), Some(RejectReason::BadHandshake));
    }
    let at_the_limits = Hello {
        client_name: "n".repeat(limits.max_client_info_len),
        auth: Bytes::from(vec![0; limits.max_auth_size]),
        ..hello()
    };
    assert!(server_reads(frame(&Frame::Hello(at_the_limits))).is_ok());
}

#[test]
fn a_timed_out_handshake_says_so_and_closes_with_that_reason() {
    let last = Refusal::Timeout.last_words().unwrap();
    let expected = LastWords {
        frame: Frame::Disconnect(Disconnect {
            reason: DisconnectReason::HandshakeTimeout,
            message: "no Hello in time".to_owned(),
        }),
        reason: DisconnectReason::HandshakeTimeout,
        message: "handshake timed out",
    };
    assert_eq!(last, expected);
    assert_eq!(Refusal::Timeout.reason(), "HandshakeTimeout");
}

#[test]
fn a_reject_closes_with_server_disconnect() {
    let refusal = super::refusal(RejectReason::Unauthorized, "no");
    assert_eq!(refusal.reason(), "Unauthorized");
    let last = refusal.last_words().unwrap();
    assert_eq!(last.reason, DisconnectReason::ServerDisconnect);
}

fn welcome() -> Welcome {
    Welcome {
        sid: SocketId::from_bytes([7; 16]),
        ping_interval_ms: 25_000,
        ping_timeout_ms: 20_000,
        max_frame_size: 1 << 20,
        session: Bytes::new(),
        recovered: false,
        offset: 0,
        channels: None,
    }
}

/// The client's reading of one frame from the server.
fn client_reads(frame: &Frame) -> Result<Welcome, ConnectError> {
    let incoming = Incoming::Frame(codec::encode(frame));
    greeting().answer(incoming).expect("a frame answers")
}

#[test]
fn the_client_takes_a_welcome() {
    assert_eq!(client_reads(&Frame::Welcome(welcome())).unwrap(), welcome());
}

#[test]
fn the_client_reports_a_reject_with_its_reason_message_and_data() {
    let reject = Reject {
        reason: RejectReason::Unauthorized,
        message: "bad token".to_owned(),
        data: Bytes::from_static(b"retry later"),
    };
    match client_reads(&Frame::Reject(reject)) {
        Err(ConnectError::Rejected {
            reason,
            message,
            data,
        }) => {
            assert_eq!(reason, RejectReason::Unauthorized);
            assert_eq!(message, "bad token");
            assert_eq!(data, Bytes::from_static(b"retry later"));
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn the_client_reports_a_disconnect_as_the_servers_close() {
    let bye = Disconnect {
        reason: DisconnectReason::HandshakeTimeout,
        message: "no Hello in time".to_owned(),
    };
    match client_reads(&Frame::Disconnect(bye)) {
        Err(ConnectError::Transport(TransportError::PeerClosed { reason, .. })) => {
            assert_eq!(reason, DisconnectReason::HandshakeTimeout);
        }
        other => panic!("expected the server's close, got {other:?}"),
    }
}

#[test]
fn any_other_answer_is_a_protocol_error() {
    assert!(matches!(
        client_reads(&Frame::Ping(Ping { id: 1 })),
        Err(ConnectError::Protocol(_))
    ));
    let garbage = Incoming::Frame(Bytes::from_static(&[0xee]));
    assert!(matches!(
        greeting().answer(garbage),
        Some(Err(ConnectError::Protocol(_)))
    ));
}

#[test]
fn a_datagram_does_not_answer_the_handshake() {
    let datagram = Incoming::Datagram(Bytes::from_static(b"early"));
    assert!(greeting().answer(datagram).is_none());
}
