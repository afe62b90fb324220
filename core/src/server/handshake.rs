//! What auth middleware sees of a handshake, and how it refuses one; the handshake itself is
//! `endpoint/greeting.rs`.

use std::sync::Arc;

use quicket_proto::{Frame, Hello, PayloadCodec, PayloadError, Reject, RejectReason};

use crate::endpoint::channels::MAX_CHANNELS;
use crate::extensions::Extensions;
use crate::payload::EncodedPayload;
use crate::payload::{FromPayload, IntoPayload};
use crate::transport::ConnectionInfo;

/// What a client said when it connected. Auth middleware inspects it; sockets keep it.
#[derive(Clone, Debug)]
pub struct Handshake {
    hello: Arc<Hello>,
    info: ConnectionInfo,
    extensions: Extensions,
}

impl Handshake {
    pub(crate) fn new(hello: Hello, info: ConnectionInfo) -> Self {
        Self {
            hello: Arc::new(hello),
            info,
            extensions: Extensions::default(),
        }
    }

    /// The auth payload, decoded with the connection's codec.
    pub fn auth<T: FromPayload>(&self) -> Result<T, PayloadError> {
        T::decode(self.hello.auth.clone(), self.hello.codec)
    }

    /// The connection's payload codec.
    pub fn codec(&self) -> PayloadCodec {
        self.hello.codec
    }

    /// The client library's name and version, as it reported them.
    pub fn client(&self) -> (&str, &str) {
        (&self.hello.client_name, &self.hello.client_version)
    }

    /// The largest frame the client accepts.
    pub fn peer_max_frame_size(&self) -> usize {
        self.hello.max_frame_size as usize
    }

    /// The client's `Hello` as it came, to pass on to another node.
    pub(crate) fn hello_frame(&self) -> bytes::Bytes {
        quicket_proto::codec::encode(&quicket_proto::Frame::Hello((*self.hello).clone()))
    }

    /// The session the client asks to resume.
    pub(crate) fn resume(&self) -> Option<&quicket_proto::Resume> {
        self.hello.resume.as_ref()
    }

    /// The channels the client offers (PROTOCOL.md section 2.2).
    pub(crate) fn channel_offer(&self) -> Option<&quicket_proto::ChannelOffer> {
        self.hello.channels.as_ref()
    }

    /// How far the client got on each channel, channel 0 first, for a resume; `None` when it
    /// names a channel above any a session may have. The session's log says whether it can
    /// resume from them.
    pub(crate) fn resume_offsets(&self) -> Option<Vec<u64>> {
        let named = self
            .channel_offer()
            .map_or(&[][..], |offer| &offer.offsets[..]);
        let highest = named.iter().map(|named| named.channel).max().unwrap_or(0);
        if highest > MAX_CHANNELS {
            return None;
        }
        let mut offsets = vec![0; usize::from(highest) + 1];
        offsets[0] = self.hello.resume.as_ref().map_or(0, |resume| resume.offset);
        for named in named.iter().filter(|named| named.channel > 0) {
            offsets[usize::from(named.channel)] = named.offset;
        }
        Some(offsets)
    }

    /// The transport and peer address.
    pub fn connection(&self) -> &ConnectionInfo {
        &self.info
    }

    /// Data for the socket: what middleware inserts here, handlers find in
    /// [`Socket::extensions`](crate::Socket::extensions).
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }
}

/// Auth middleware's refusal; the client receives it as
/// [`ConnectError::Rejected`](crate::ConnectError::Rejected).
#[derive(Debug, Clone)]
pub struct Rejection {
    message: String,
    data: Option<EncodedPayload>,
}

impl Rejection {
    /// A refusal with a message for the client.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            data: None,
        }
    }

    /// Adds application data (e.g. a retry delay). Data that cannot be encoded is left out.
    pub fn with_data(mut self, data: impl IntoPayload) -> Self {
        self.data = EncodedPayload::encode(&data).ok();
        self
    }

    pub(crate) fn into_frame(self, codec: PayloadCodec) -> Frame {
        let data = self.data.map(|d| d.get(codec).clone()).unwrap_or_default();
        Frame::Reject(Reject {
            reason: RejectReason::Unauthorized,
            message: self.message,
            data,
        })
    }
}
