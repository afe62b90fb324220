//! The QUIC transport's errors.

use thiserror::Error;

/// Why the QUIC transport could not start or reconfigure.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum QuicError {
    /// The certificate could not be made or loaded.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The UDP socket could not be set up.
    #[error("cannot bind: {0}")]
    Bind(#[from] std::io::Error),
    /// The server URL is not a usable `https://` URL.
    #[error("invalid url: {0}")]
    Url(String),
}
