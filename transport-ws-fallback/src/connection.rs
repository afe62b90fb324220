//! A WebSocket as a core connection: one binary message is one frame. There are no
//! datagrams: core sends volatile frames as messages and drops them when the socket is
//! congested.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use quicket_core::DisconnectReason;
use quicket_core::transport::{
    Connection, ConnectionInfo, DatagramSender, FrameReader, FrameWriter, Incoming, TransportError,
    TransportKind,
};

use crate::message::{Kind, WsError, WsMessage, close_code, close_reason};

/// How long a close waits for the close frame to go out.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// An open WebSocket, server or client side.
pub struct WsConnection<S> {
    socket: S,
    peer_addr: Option<SocketAddr>,
}

impl<S> WsConnection<S> {
    pub(crate) fn new(socket: S, peer_addr: Option<SocketAddr>) -> Self {
        Self { socket, peer_addr }
    }
}

impl<S, M, E> Connection for WsConnection<S>
where
    S: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Unpin + Send + 'static,
    M: WsMessage,
    E: WsError,
{
    type Reader = WsReader<S>;
    type Writer = WsWriter<S, M>;

    fn info(&self) -> ConnectionInfo {
        ConnectionInfo::new(TransportKind::WebSocket, self.peer_addr)
    }

    fn split(
        self,
        max_frame_size: usize,
    ) -> (WsReader<S>, WsWriter<S, M>, Option<Arc<dyn DatagramSender>>) {
        let (sink, stream) = self.socket.split();
        (
            WsReader {
                stream,
                max_frame_size,
            },
            WsWriter { sink },
            None,
        )
    }
}

/// Receives frames, one per binary message.
pub struct WsReader<S> {
    stream: SplitStream<S>,
    max_frame_size: usize,
}

impl<S, M, E> FrameReader for WsReader<S>
where
    S: Stream<Item = Result<M, E>> + Unpin + Send + 'static,
    M: WsMessage,
    E: WsError,
{
    async fn recv(&mut self) -> Result<Incoming, TransportError> {
        loop {
            // `next` is cancel safe: a message is either returned or still in the stream.
            let message = match self.stream.next().await {
                Some(Ok(message)) => message,
                Some(Err(err)) => return Err(err.into_transport()),
                None => return Err(TransportError::Closed),
            };
            match message.kind() {
                Kind::Frame(frame) if frame.len() > self.max_frame_size => {
                    return Err(TransportError::FrameTooLarge {
                        declared: frame.len() as u64,
                        max: self.max_frame_size,
                    });
                }
                Kind::Frame(frame) => return Ok(Incoming::Frame(frame)),
                Kind::Text => {
                    return Err(TransportError::Malformed(
                        "text messages are not part of the protocol".into(),
                    ));
                }
                Kind::Close(Some((code, message))) => {
                    return Err(match close_reason(code) {
                        Some(reason) => TransportError::PeerClosed { reason, message },
                        None => TransportError::Closed,
                    });
                }
                Kind::Close(None) => return Err(TransportError::Closed),
                Kind::Control => {}
            }
        }
    }
}

/// Sends frames, one per binary message, batching until a flush.
pub struct WsWriter<S, M> {
    sink: SplitSink<S, M>,
}

impl<S, M, E> FrameWriter for WsWriter<S, M>
where
    S: Sink<M, Error = E> + Unpin + Send + 'static,
    M: WsMessage,
    E: WsError,
{
    async fn send(&mut self, frame: Bytes) -> Result<(), TransportError> {
        self.sink
            .feed(M::binary(frame))
            .await
            .map_err(WsError::into_transport)
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        self.sink.flush().await.map_err(WsError::into_transport)
    }

    async fn close(&mut self, reason: DisconnectReason, message: &str) {
        // A close frame's reason is at most 123 bytes.
        let mut end = message.len().min(120);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let message = &message[..end];
        let closing = async {
            self.sink
                .send(M::close(close_code(reason), message))
                .await
                .ok();
            self.sink.close().await.ok();
        };
        let _late = tokio::time::timeout(CLOSE_TIMEOUT, closing).await;
    }
}
