//! Single-frame streams (PROTOCOL.md section 2.3) as a hostile or lossy server sends them, read
//! by a real client over real QUIC.

use bytes::Bytes;
use quicket_core::transport::{
    Connection, Connector, FrameReader, FrameWriter, Incoming, Listener, TransportError,
};
use quicket_testkit::within;

use crate::{
    QuicConnection, QuicConnector, QuicListener, QuicReader, QuicWriter, ServerIdentity,
    ServerTrust,
};

/// What a test holds: the client's reader, the server's raw session, and what keeps the
/// session open (the server's writer, the listener).
type Welcomed = (
    QuicReader,
    wtransport::Connection,
    (QuicWriter, QuicListener),
);

/// A client's reader, welcomed by its server's first frame, and the server's raw session.
async fn welcomed_client() -> Welcomed {
    let mut listener = QuicListener::builder(ServerIdentity::dev())
        .bind("127.0.0.1:0".parse().expect("an address"))
        .listen()
        .await
        .expect("a listener");
    let handle = listener.handle();
    let url = format!("https://127.0.0.1:{}/quicket", handle.local_addr().port());
    let trust = ServerTrust::Hashes(handle.certificate_hashes());
    let connector = QuicConnector::new(url, trust).expect("a connector");
    let client = within("connect", connector.connect())
        .await
        .expect("connects");
    let (mut reader, mut writer, _) = client.split(1 << 16);
    // The server learns of the session's stream from its first bytes.
    writer
        .send(Bytes::from_static(b"hello"))
        .await
        .expect("sent");
    writer.flush().await.expect("flushed");
    let server: QuicConnection = within("accept", listener.accept()).await.expect("accepted");
    let session = server.session.clone();
    let (_server_reader, mut server_writer, _) = server.split(1 << 16);
    server_writer
        .send(Bytes::from_static(b"welcome"))
        .await
        .expect("sent");
    server_writer.flush().await.expect("flushed");
    match within("the welcome", reader.recv()).await {
        Ok(Incoming::Frame(frame)) => assert_eq!(&frame[..], b"welcome"),
        other => panic!("expected the first frame, got {other:?}"),
    }
    (reader, session, (server_writer, listener))
}

/// Opens a unidirectional stream and writes `bytes` on it; returns it, unfinished.
async fn stream_with(session: &wtransport::Connection, bytes: &[u8]) -> wtransport::SendStream {
    let opening = session.open_uni().await.expect("a stream");
    let mut send = opening.await.expect("opened");
    send.write_all(bytes).await.expect("written");
    send
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_frame_stream_with_a_second_frame_is_malformed() {
    let (mut reader, session, _open) = welcomed_client().await;
    // Header 0, then two frames of two bytes each.
    let mut send = stream_with(&session, &[0, 2, 0x30, 0x00, 2, 0x30, 0x01]).await;
    let _ = send.quic_stream_mut().finish();
    match within("the first frame", reader.recv()).await {
        Ok(Incoming::Alone(frame)) => assert_eq!(&frame[..], &[0x30, 0x00]),
        other => panic!("expected the stream's frame, got {other:?}"),
    }
    match within("the second frame", reader.recv()).await {
        Err(TransportError::Malformed(message)) => assert!(message.contains("second frame")),
        other => panic!("expected a malformed stream, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_single_frame_stream_is_ignored_and_the_next_one_read() {
    let (mut reader, session, _open) = welcomed_client().await;
    // A superseded value: its frame cut short, then reset.
    let mut stale = stream_with(&session, &[0, 10, 0x30, 0x00, 0x01]).await;
    stale.reset(wtransport::VarInt::from_u32(0)).expect("reset");
    let mut fresh = stream_with(&session, &[0, 2, 0x30, 0x02]).await;
    let _ = fresh.quic_stream_mut().finish();
    match within("the newer value", reader.recv()).await {
        Ok(Incoming::Alone(frame)) => assert_eq!(&frame[..], &[0x30, 0x02]),
        other => panic!("expected the newer value alone, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_frame_stream_that_ends_inside_its_frame_is_malformed() {
    let (mut reader, session, _open) = welcomed_client().await;
    let mut send = stream_with(&session, &[0, 5, 0x30]).await;
    let _ = send.quic_stream_mut().finish();
    match within("the cut stream", reader.recv()).await {
        Err(TransportError::Malformed(message)) => assert!(message.contains("inside a frame")),
        other => panic!("expected a malformed stream, got {other:?}"),
    }
}
