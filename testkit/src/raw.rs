//! A peer that speaks frames by hand, to send what a well-behaved client never would.

use bytes::Bytes;
use quicket_proto::{Frame, Hello, PROTOCOL_VERSION, PayloadCodec, Welcome, codec};

use super::within;
use quicket_core::transport::{
    Connection, DatagramSender, FrameReader, FrameWriter, Incoming, TransportError,
};

/// One raw connection.
pub struct RawPeer<C: Connection> {
    /// The receiving half.
    pub reader: C::Reader,
    /// The sending half.
    pub writer: C::Writer,
    /// The datagram sender, where the transport has datagrams.
    pub datagrams: Option<std::sync::Arc<dyn DatagramSender>>,
    close_reason: Option<quicket_proto::DisconnectReason>,
}

impl<C: Connection> RawPeer<C> {
    /// Splits a fresh connection, accepting frames up to the protocol's cap.
    pub fn new(connection: C) -> Self {
        let (reader, writer, datagrams) = connection.split(quicket_proto::MAX_FRAME_SIZE);
        Self {
            reader,
            writer,
            datagrams,
            close_reason: None,
        }
    }

    /// A well-formed Hello with the bincode codec.
    pub fn hello() -> Frame {
        Frame::Hello(Hello {
            version: PROTOCOL_VERSION,
            codec: PayloadCodec::Bincode,
            client_name: "raw".into(),
            client_version: "0".into(),
            max_frame_size: 1 << 20,
            auth: Bytes::new(),
            resume: None,
            channels: None,
        })
    }

    /// Sends a Hello and returns the server's Welcome.
    pub async fn handshake(&mut self) -> Welcome {
        self.send(&Self::hello()).await;
        match self.recv().await {
            Some(Frame::Welcome(welcome)) => welcome,
            other => panic!("expected Welcome, got {other:?}"),
        }
    }

    /// Asks the conformance handlers' `join` event to put this peer in `room`, and waits for
    /// the ack.
    pub async fn join(&mut self, room: &str) {
        let data = PayloadCodec::Bincode
            .encode(room)
            .expect("a string encodes");
        let join = Frame::Event(quicket_proto::Event {
            name: "join".into(),
            ack: Some(1),
            data,
        });
        self.send(&join).await;
        assert!(
            self.recv_until(|f| matches!(f, Frame::Ack(_)))
                .await
                .is_some()
        );
    }

    /// Sends one frame on the reliable channel.
    pub async fn send(&mut self, frame: &Frame) {
        self.send_bytes(codec::encode(frame)).await;
    }

    /// Sends arbitrary bytes as one frame on the reliable channel.
    pub async fn send_bytes(&mut self, bytes: Bytes) {
        within("a raw send", async {
            self.writer.send(bytes).await.expect("raw send");
            self.writer.flush().await.expect("raw flush");
        })
        .await;
    }

    /// The next reliable frame, or `None` once the connection is closed.
    pub async fn recv(&mut self) -> Option<Frame> {
        loop {
            match within("a raw frame", self.reader.recv()).await {
                Ok(Incoming::Frame(bytes)) => {
                    return Some(codec::decode(&bytes).expect("server frames decode"));
                }
                Ok(Incoming::Datagram(_)) => continue,
                Ok(other) => panic!("a raw client offers no channels, yet got {other:?}"),
                Err(TransportError::PeerClosed { reason, .. }) => {
                    self.close_reason = Some(reason);
                    return None;
                }
                Err(TransportError::Closed) => return None,
                Err(err) => panic!("raw receive failed: {err}"),
            }
        }
    }

    /// Reads until the server closes, and says why: from its `Disconnect` frame, or from the
    /// transport's close when that carries a reason (a QUIC close code; closing a QUIC
    /// connection may discard a `Disconnect` frame still unread).
    pub async fn disconnect_reason(&mut self) -> Option<quicket_proto::DisconnectReason> {
        while let Some(frame) = self.recv().await {
            if let Frame::Disconnect(bye) = frame {
                return Some(bye.reason);
            }
        }
        self.close_reason
    }

    /// Skips frames until one matches, returning it; `None` if the connection closes first.
    pub async fn recv_until(&mut self, mut wanted: impl FnMut(&Frame) -> bool) -> Option<Frame> {
        while let Some(frame) = self.recv().await {
            if wanted(&frame) {
                return Some(frame);
            }
        }
        None
    }
}
