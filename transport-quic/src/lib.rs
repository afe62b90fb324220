//! quicket over WebTransport: HTTP/3 over QUIC, as browsers speak it.
//!
//! Reliable frames travel on one bidirectional stream per session, opened by the client,
//! behind length prefixes; volatile frames travel as QUIC datagrams. A volatile emit larger
//! than the path's datagram limit is an error for the emitter, never a silent drop.
//!
//! A client that offers channels (PROTOCOL.md section 2.2; the Rust and browser clients offer
//! 16) gets each room's events on a unidirectional stream the server opens for that room, so
//! a packet lost for one room holds back no other room's events.
//!
//! # A server and a client
//!
//! ```no_run
//! use quicket_core::{Client, Server, Socket};
//! use quicket_quic::{QuicConnector, QuicListener, ServerIdentity, ServerTrust};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // A self-signed development certificate; browsers pin its hash.
//! let listener = QuicListener::builder(ServerIdentity::dev())
//!     .bind("[::]:4433".parse()?)
//!     .listen()
//!     .await?;
//! let quic = listener.handle();
//! let server = Server::builder()
//!     .on_connect(|socket: Socket| async move { socket.emit("hello", "over QUIC").ok(); })
//!     .build();
//! server.listen(listener);
//!
//! let trust = ServerTrust::Hashes(quic.certificate_hashes());
//! let connector = QuicConnector::new("https://127.0.0.1:4433/quicket", trust)?;
//! let client = Client::builder().connect(&connector).await?;
//! client.volatile().emit("position", (1.0f32, 2.0f32))?;
//! # Ok(()) }
//! ```
//!
//! # Certificates
//!
//! [`ServerIdentity::pem_files`] serves a real certificate; after renewing the files, call
//! [`QuicHandle::reload_certificate`]: new sessions get the new certificate, open sessions
//! keep going. [`ServerIdentity::dev`] makes a self-signed ECDSA P-256 certificate valid 13
//! days and replaces it every 7; [`QuicHandle::certificate_hashes`] lists the current and the
//! previous hash for `serverCertificateHashes`.

mod channels;
mod close;
mod config;
mod connection;
mod connector;
mod error;
mod identity;
mod listener;
mod tcp_tls;

#[cfg(feature = "dangerous-configuration")]
pub mod flood;

pub use crate::close::{CLOSE_CODE_BASE, close_code, close_reason};
pub use crate::config::{CongestionControl, QuicLimits};
pub use crate::connection::{QuicConnection, QuicReader, QuicWriter};
pub use crate::connector::{QuicConnector, ServerTrust};
pub use crate::error::QuicError;
pub use crate::identity::{CertificateHash, DevCertificate, ServerIdentity};
pub use crate::listener::{
    Admission, DEFAULT_PATH, PreAcceptHook, QuicHandle, QuicListener, QuicListenerBuilder,
    SessionRequest,
};
pub use crate::tcp_tls::tls;
