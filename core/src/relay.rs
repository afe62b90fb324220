//! Relayed connections, for clusters: a client that resumes its session on a node other than
//! the one holding it is served by the holder, through the node it reached.
//!
//! The node the client reached pumps the connection's frames to the holder and back; the
//! holder serves them as one more connection of its own. The session never moves, so its
//! events stay exactly once and in order, whichever node the client comes back through.

use std::sync::Arc;

use bytes::Bytes;
use quicket_proto::DisconnectReason;
use tokio::sync::mpsc;

use crate::transport::{
    Connection, DatagramSender, FrameReader, FrameWriter, Incoming, TransportError,
};

/// What travels over a relay, either way.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Relayed {
    /// A frame of the ordered channel.
    Frame(Bytes),
    /// A datagram (a whole frame), which may be dropped.
    Datagram(Bytes),
    /// A frame of one of the server's other ordered channels (PROTOCOL.md section 2.2).
    Channel(u16, Bytes),
    /// The frame of a single-frame stream (PROTOCOL.md section 2.3).
    Alone(Bytes),
    /// The connection ended, and why.
    Closed {
        /// The reason.
        reason: DisconnectReason,
        /// What was said.
        message: String,
    },
}

/// One end of a relay: what this end sends, and what comes back.
#[derive(Debug)]
#[non_exhaustive]
pub struct RelayLink {
    /// To the other end. Frames wait for room; datagrams are dropped when it is full.
    pub out: mpsc::Sender<Relayed>,
    /// From the other end; its end closes the relay.
    pub back: mpsc::Receiver<Relayed>,
}

impl RelayLink {
    /// A link from its two channel ends.
    pub fn new(out: mpsc::Sender<Relayed>, back: mpsc::Receiver<Relayed>) -> Self {
        Self { out, back }
    }
}

/// Pumps `connection` over `link` until either side ends: what the connection reads goes
/// out (after `first`, a frame already read from it), what comes back is written to it.
/// Both nodes of a relay run this: the one the client reached on the client's connection,
/// the holder on its end of an in-process connection to its own server.
pub async fn pump<C: Connection>(
    connection: C,
    max_frame_size: usize,
    link: RelayLink,
    first: Option<Bytes>,
) {
    let (reader, writer, datagrams) = connection.split(max_frame_size);
    pump_split(reader, writer, datagrams, link, first).await;
}

/// [`pump`] on a connection already split.
pub(crate) async fn pump_split<R: FrameReader, W: FrameWriter>(
    mut reader: R,
    mut writer: W,
    datagrams: Option<Arc<dyn DatagramSender>>,
    mut link: RelayLink,
    first: Option<Bytes>,
) {
    if let Some(first) = first
        && link.out.send(Relayed::Frame(first)).await.is_err()
    {
        return writer
            .close(DisconnectReason::TransportClosed, "relay closed")
            .await;
    }
    loop {
        tokio::select! {
            incoming = reader.recv() => {
                let relayed = match incoming {
                    Ok(Incoming::Frame(frame)) => Relayed::Frame(frame),
                    Ok(Incoming::Channel(channel, frame)) => Relayed::Channel(channel, frame),
                    Ok(Incoming::Alone(frame)) => Relayed::Alone(frame),
                    Ok(Incoming::Datagram(datagram)) => {
                        let _dropped_when_full = link.out.try_send(Relayed::Datagram(datagram));
                        continue;
                    }
                    Err(err) => {
                        let (reason, message) = closed(err);
                        let _ = link.out.send(Relayed::Closed { reason, message }).await;
                        return;
                    }
                };
                if link.out.send(relayed).await.is_err() {
                    return writer.close(DisconnectReason::TransportClosed, "relay closed").await;
                }
            }
            back = link.back.recv() => {
                let Some(back) = back else {
                    return writer.close(DisconnectReason::TransportClosed, "relay closed").await;
                };
                if let Err((reason, message)) = write(&mut writer, datagrams.as_ref(), back).await {
                    return writer.close(reason, &message).await;
                }
                // Write out what else is waiting before flushing once.
                while let Ok(back) = link.back.try_recv() {
                    if let Err((reason, message)) = write(&mut writer, datagrams.as_ref(), back).await {
                        return writer.close(reason, &message).await;
                    }
                }
                if writer.flush().await.is_err() {
                    let _ = link.out.try_send(Relayed::Closed {
                        reason: DisconnectReason::TransportClosed,
                        message: "the connection failed".to_owned(),
                    });
                    return;
                }
            }
        }
    }
}

/// Writes one relayed item; `Err` is how to close.
async fn write<W: FrameWriter>(
    writer: &mut W,
    datagrams: Option<&Arc<dyn DatagramSender>>,
    relayed: Relayed,
) -> Result<(), (DisconnectReason, String)> {
    let frame = match relayed {
        Relayed::Frame(frame) => frame,
        Relayed::Datagram(frame) => match datagrams {
            Some(datagrams) if frame.len() <= datagrams.max_size() => {
                // A datagram may be lost anyway; a failed one is just that.
                let _ = datagrams.send(frame);
                return Ok(());
            }
            // No datagrams here (WebSocket): a volatile frame rides the ordered channel.
            _ => frame,
        },
        Relayed::Channel(channel, frame) => {
            return writer.send_on(channel, frame).await.map_err(closed);
        }
        // The key of a latest value stays behind on the holder: past a relay, a stale value's
        // stream is not reset, and the client's sequence check drops it instead.
        Relayed::Alone(frame) => return writer.send_alone(frame, None).await.map_err(closed),
        Relayed::Closed { reason, message } => return Err((reason, message)),
    };
    writer.send(frame).await.map_err(closed)
}

/// The reason to report for a transport's error.
fn closed(err: TransportError) -> (DisconnectReason, String) {
    match err {
        TransportError::PeerClosed { reason, message } => (reason, message),
        other => (DisconnectReason::TransportClosed, other.to_string()),
    }
}
