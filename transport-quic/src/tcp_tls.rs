//! The endpoint's identity for TLS over TCP too (the WebSocket endpoint and discovery), so one
//! certificate serves both transports and a reload reaches both; and the client's side: the
//! same [`ServerTrust`] choices for `wss://` and `https://` as for WebTransport.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use wtransport::Identity;
use wtransport::tls::rustls;

use self::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use self::rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use self::rustls::pki_types::pem::PemObject;
use self::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use self::rustls::server::{ClientHello, ResolvesServerCert};
use self::rustls::sign::CertifiedKey;
use self::rustls::{DigitallySignedStruct, SignatureScheme};
use crate::connector::ServerTrust;
use crate::error::QuicError;
use crate::identity::CertificateHash;

/// rustls, as this crate and `quicket-ws` use it, for the configurations below.
pub use wtransport::tls::rustls as tls;

/// An identity's chain and key as rustls takes them; an error, not a panic, for a bad pair.
pub(crate) fn chain_and_key(
    identity: &Identity,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), QuicError> {
    let invalid =
        |what: &str, err: &dyn fmt::Display| QuicError::Certificate(format!("{what}: {err}"));
    let chain: Vec<CertificateDer<'static>> = identity
        .certificate_chain()
        .as_slice()
        .iter()
        .map(|cert| CertificateDer::from(cert.der().to_vec()))
        .collect();
    if chain.is_empty() {
        return Err(QuicError::Certificate(
            "the certificate chain is empty".into(),
        ));
    }
    let pem = identity.private_key().to_secret_pem();
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|err| invalid("private key", &err))?;
    Ok((chain, key))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificate the endpoint serves now, for TLS handshakes over TCP.
#[derive(Debug)]
pub(crate) struct CurrentCertificate(RwLock<Arc<CertifiedKey>>);

impl CurrentCertificate {
    pub(crate) fn new(identity: &Identity) -> Result<Self, QuicError> {
        Ok(Self(RwLock::new(certified(identity)?)))
    }

    /// Serves `identity` to the handshakes that start from now on.
    pub(crate) fn replace(&self, identity: &Identity) -> Result<(), QuicError> {
        let key = certified(identity)?;
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = key;
        Ok(())
    }

    /// A TLS server configuration for HTTP/1.1 over TCP that serves the current certificate.
    pub(crate) fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, QuicError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|err| QuicError::Certificate(format!("TLS versions: {err}")))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.0.read().unwrap_or_else(PoisonError::into_inner),
        ))
    }
}

fn certified(identity: &Identity) -> Result<Arc<CertifiedKey>, QuicError> {
    let (chain, key) = chain_and_key(identity)?;
    let key = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|err| QuicError::Certificate(format!("private key: {err}")))?;
    Ok(Arc::new(CertifiedKey::new(chain, key)))
}

impl ServerTrust {
    /// A TLS client configuration for `wss://` and `https://` with this trust: the system's
    /// roots, or exactly the pinned certificate hashes (which, as in browsers, stand in for
    /// the name and the chain).
    pub fn tcp_client_config(&self) -> Result<Arc<rustls::ClientConfig>, QuicError> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|err| QuicError::Certificate(format!("TLS versions: {err}")))?;
        let config = match self {
            ServerTrust::NativeRoots => {
                let mut roots = rustls::RootCertStore::empty();
                let found = rustls_native_certs::load_native_certs();
                let (added, _ignored) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(QuicError::Certificate(
                        "no root certificates found on this system".into(),
                    ));
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            ServerTrust::Hashes(hashes) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Pinned::new(hashes.clone())))
                .with_no_client_auth(),
            #[cfg(feature = "dangerous-configuration")]
            ServerTrust::Dangerous => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Pinned::any()))
                .with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

/// Accepts a server whose leaf certificate has one of the pinned hashes (all of them when
/// `hashes` is `None`), and checks its handshake signature as usual.
#[derive(Debug)]
struct Pinned {
    hashes: Option<Vec<CertificateHash>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl Pinned {
    fn new(hashes: Vec<CertificateHash>) -> Self {
        Self {
            hashes: Some(hashes),
            algorithms: provider().signature_verification_algorithms,
        }
    }

    #[cfg(feature = "dangerous-configuration")]
    fn any() -> Self {
        Self {
            hashes: None,
            algorithms: provider().signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(hashes) = &self.hashes else {
            return Ok(ServerCertVerified::assertion());
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, end_entity.as_ref());
        let pinned = hashes
            .iter()
            .any(|hash| hash.as_bytes().as_slice() == digest.as_ref());
        if pinned {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, signature, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, signature, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
