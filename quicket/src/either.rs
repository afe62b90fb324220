//! A connection over whichever transport the fallback connector landed on.

use std::sync::Arc;

use bytes::Bytes;
use quicket_core::DisconnectReason;
use quicket_core::transport::{
    Connection, ConnectionInfo, DatagramSender, FrameReader, FrameWriter, Incoming, PathProbe,
    TransportError,
};
use quicket_quic::{QuicConnection, QuicReader, QuicWriter};
use quicket_ws::{WsClientConnection, WsConnection};

type WsStream = quicket_ws::WsClientStream;
type WsMessage = tokio_tungstenite::tungstenite::Message;

/// A WebTransport or a WebSocket connection.
pub enum AnyConnection {
    /// WebTransport over QUIC.
    Quic(QuicConnection),
    /// WebSocket (boxed: a WebSocket stream is several times the size of a QUIC handle).
    Ws(Box<WsClientConnection>),
}

impl From<QuicConnection> for AnyConnection {
    fn from(connection: QuicConnection) -> Self {
        Self::Quic(connection)
    }
}

impl From<WsClientConnection> for AnyConnection {
    fn from(connection: WsClientConnection) -> Self {
        Self::Ws(Box::new(connection))
    }
}

/// The reading half of an [`AnyConnection`].
pub enum AnyReader {
    /// WebTransport over QUIC.
    Quic(QuicReader),
    /// WebSocket.
    Ws(quicket_ws::WsReader<WsStream>),
}

/// The writing half of an [`AnyConnection`].
pub enum AnyWriter {
    /// WebTransport over QUIC.
    Quic(QuicWriter),
    /// WebSocket.
    Ws(quicket_ws::WsWriter<WsStream, WsMessage>),
}

impl Connection for AnyConnection {
    type Reader = AnyReader;
    type Writer = AnyWriter;

    fn info(&self) -> ConnectionInfo {
        match self {
            AnyConnection::Quic(quic) => quic.info(),
            AnyConnection::Ws(ws) => ws.info(),
        }
    }

    fn path_probe(&self) -> Option<Arc<dyn PathProbe>> {
        match self {
            AnyConnection::Quic(quic) => quic.path_probe(),
            AnyConnection::Ws(ws) => ws.path_probe(),
        }
    }

    fn max_channels(&self) -> u16 {
        match self {
            AnyConnection::Quic(quic) => quic.max_channels(),
            AnyConnection::Ws(ws) => ws.max_channels(),
        }
    }

    fn split(
        self,
        max_frame_size: usize,
    ) -> (AnyReader, AnyWriter, Option<Arc<dyn DatagramSender>>) {
        match self {
            AnyConnection::Quic(quic) => {
                let (reader, writer, datagrams) = quic.split(max_frame_size);
                (AnyReader::Quic(reader), AnyWriter::Quic(writer), datagrams)
            }
            AnyConnection::Ws(ws) => {
                let (reader, writer, datagrams) = WsConnection::split(*ws, max_frame_size);
                (AnyReader::Ws(reader), AnyWriter::Ws(writer), datagrams)
            }
        }
    }
}

impl FrameReader for AnyReader {
    async fn recv(&mut self) -> Result<Incoming, TransportError> {
        match self {
            AnyReader::Quic(quic) => quic.recv().await,
            AnyReader::Ws(ws) => ws.recv().await,
        }
    }
}

impl FrameWriter for AnyWriter {
    async fn send(&mut self, frame: Bytes) -> Result<(), TransportError> {
        match self {
            AnyWriter::Quic(quic) => quic.send(frame).await,
            AnyWriter::Ws(ws) => ws.send(frame).await,
        }
    }

    async fn send_on(&mut self, channel: u16, frame: Bytes) -> Result<(), TransportError> {
        match self {
            AnyWriter::Quic(quic) => quic.send_on(channel, frame).await,
            AnyWriter::Ws(ws) => ws.send_on(channel, frame).await,
        }
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        match self {
            AnyWriter::Quic(quic) => quic.flush().await,
            AnyWriter::Ws(ws) => ws.flush().await,
        }
    }

    async fn close(&mut self, reason: DisconnectReason, message: &str) {
        match self {
            AnyWriter::Quic(quic) => quic.close(reason, message).await,
            AnyWriter::Ws(ws) => ws.close(reason, message).await,
        }
    }
}
