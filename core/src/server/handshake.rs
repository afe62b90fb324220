//! The server's side of the handshake, and what auth middleware sees of it.

use std::sync::Arc;

use bytes::Bytes;
use quicket_proto::{
    Frame, Hello, PROTOCOL_VERSION, PayloadCodec, PayloadError, Reject, RejectReason, codec,
};

use crate::config::ConnectionLimits;
use crate::extensions::Extensions;
use crate::payload::EncodedPayload;
use crate::payload::{FromPayload, IntoPayload};
use crate::transport::{ConnectionInfo, Incoming};

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

/// The smallest frame limit a client may advertise: below it, not even a `Welcome` fits.
const MIN_PEER_FRAME_SIZE: u32 = 1024;

/// Reads the client's `Hello`, or says how to refuse it.
pub(crate) fn parse_hello(
    incoming: Incoming,
    limits: &ConnectionLimits,
) -> Result<Hello, Box<Frame>> {
    let bytes = match incoming {
        Incoming::Frame(bytes) => bytes,
        Incoming::Datagram(_) => {
            return Err(refusal(
                RejectReason::BadHandshake,
                "a datagram came before the handshake",
            ));
        }
    };
    let hello = match codec::decode(&bytes) {
        Ok(Frame::Hello(hello)) => hello,
        Ok(other) => {
            let message = format!("expected Hello, got {:?}", other.tag());
            return Err(refusal(RejectReason::BadHandshake, &message));
        }
        Err(err) => {
            // A later version's Hello keeps its tag and `version` first (PROTOCOL.md 10.1).
            return Err(match codec::hello_version(&bytes) {
                Some(version) if version != PROTOCOL_VERSION => unsupported(version),
                _ => refusal(
                    RejectReason::BadHandshake,
                    &format!("undecodable Hello: {err}"),
                ),
            });
        }
    };
    if hello.version != PROTOCOL_VERSION {
        return Err(unsupported(hello.version));
    }
    check_sizes(&hello, limits)?;
    Ok(hello)
}

/// A Hello whose sizes are out of bounds: a frame limit too small for a `Welcome`, or
/// fields larger than the server keeps. The socket keeps its Hello for its whole life, a
/// kept session too.
fn check_sizes(hello: &Hello, limits: &ConnectionLimits) -> Result<(), Box<Frame>> {
    if hello.max_frame_size < MIN_PEER_FRAME_SIZE {
        let message = format!(
            "max_frame_size {} is below the minimum of {MIN_PEER_FRAME_SIZE}",
            hello.max_frame_size
        );
        return Err(refusal(RejectReason::BadHandshake, &message));
    }
    for (field, len, max) in [
        (
            "client_name",
            hello.client_name.len(),
            limits.max_client_info_len,
        ),
        (
            "client_version",
            hello.client_version.len(),
            limits.max_client_info_len,
        ),
        ("auth", hello.auth.len(), limits.max_auth_size),
    ] {
        if len > max {
            let message = format!("{field} of {len} bytes exceeds the maximum of {max}");
            return Err(refusal(RejectReason::BadHandshake, &message));
        }
    }
    Ok(())
}

fn unsupported(version: u16) -> Box<Frame> {
    let message = format!("protocol version {version} is not {PROTOCOL_VERSION}");
    refusal(RejectReason::UnsupportedVersion, &message)
}

pub(crate) fn refusal(reason: RejectReason, message: &str) -> Box<Frame> {
    Box::new(Frame::Reject(Reject {
        reason,
        message: message.to_owned(),
        data: Bytes::new(),
    }))
}
