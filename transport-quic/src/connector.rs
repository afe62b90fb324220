//! The client side: opens a WebTransport session and its reliable stream.

use std::sync::Arc;

use quicket_core::transport::{Connector, TransportError};
use wtransport::endpoint::endpoint_side::Client;
use wtransport::{ClientConfig, Endpoint};

use crate::config::QuicLimits;
use crate::connection::{QuicConnection, Side};
use crate::error::QuicError;
use crate::identity::CertificateHash;

/// How the client trusts the server's certificate.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ServerTrust {
    /// The operating system's root certificates: for a production certificate.
    NativeRoots,
    /// Exactly these certificate hashes, as browsers' `serverCertificateHashes`: for the
    /// self-signed development certificate (ECDSA, valid 14 days or less).
    Hashes(Vec<CertificateHash>),
    /// No validation at all. Tests and local experiments only.
    #[cfg(feature = "dangerous-configuration")]
    Dangerous,
}

/// Opens WebTransport sessions to one server URL. Clones share one endpoint.
#[derive(Clone)]
pub struct QuicConnector {
    endpoint: std::sync::Arc<Endpoint<Client>>,
    url: String,
    limits: QuicLimits,
}

impl QuicConnector {
    /// A connector to `url` (e.g. `https://127.0.0.1:4433/quicket`), with
    /// [`QuicLimits::client`].
    pub fn new(url: impl Into<String>, trust: ServerTrust) -> Result<Self, QuicError> {
        Self::with_limits(url, trust, &QuicLimits::client())
    }

    /// A connector with its own limits.
    pub fn with_limits(
        url: impl Into<String>,
        trust: ServerTrust,
        limits: &QuicLimits,
    ) -> Result<Self, QuicError> {
        let url = url.into();
        if !url.starts_with("https://") {
            return Err(QuicError::Url(format!(
                "{url}: WebTransport needs an https:// URL"
            )));
        }
        let builder = ClientConfig::builder().with_bind_default();
        let builder = match trust {
            ServerTrust::NativeRoots => builder.with_native_certs(),
            ServerTrust::Hashes(hashes) => {
                builder.with_server_certificate_hashes(hashes.iter().map(CertificateHash::digest))
            }
            #[cfg(feature = "dangerous-configuration")]
            ServerTrust::Dangerous => builder.with_no_cert_validation(),
        };
        let mut config = builder.build();
        config
            .quic_config_mut()
            .transport_config(Arc::new(limits.transport_config()));
        let endpoint = std::sync::Arc::new(Endpoint::client(config)?);
        Ok(Self {
            endpoint,
            url,
            limits: limits.clone(),
        })
    }
}

impl Connector for QuicConnector {
    type Connection = QuicConnection;

    async fn connect(&self) -> Result<QuicConnection, TransportError> {
        let session = self
            .endpoint
            .connect(&self.url)
            .await
            .map_err(|err| TransportError::connect_from("the WebTransport session", err))?;
        let opening = session
            .open_bi()
            .await
            .map_err(|err| TransportError::connect_from("opening the event stream", err))?;
        let (send, recv) = opening
            .await
            .map_err(|err| TransportError::connect_from("opening the event stream", err))?;
        Ok(QuicConnection::new(
            session,
            (send, recv),
            &self.limits,
            Side::Client,
        ))
    }
}
