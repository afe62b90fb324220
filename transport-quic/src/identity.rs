//! The server's TLS identity: a renewable certificate from PEM files, or a self-signed
//! development certificate that browsers accept through `serverCertificateHashes`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;
use wtransport::Identity;
use wtransport::tls::Sha256Digest;

use crate::error::QuicError;

/// The SHA-256 of a certificate's DER: what a browser's `serverCertificateHashes` takes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertificateHash([u8; 32]);

impl CertificateHash {
    /// The hash of an identity's leaf certificate.
    pub fn of(identity: &Identity) -> Option<Self> {
        let leaf = identity.certificate_chain().as_slice().first()?;
        Some(Self(*leaf.hash().as_ref()))
    }

    /// Wraps a SHA-256 digest.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// Standard base64 with padding, 44 characters.
    pub fn to_base64(&self) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::with_capacity(44);
        for chunk in self.0.chunks(3) {
            let bytes = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]);
            for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[(n >> shift) as usize & 63]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    pub(crate) fn digest(&self) -> Sha256Digest {
        Sha256Digest::new(self.0)
    }
}

impl fmt::Display for CertificateHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for CertificateHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertificateHash({self})")
    }
}

/// Where the server's certificate comes from.
#[derive(Debug, Clone)]
pub struct ServerIdentity(pub(crate) Source);

#[derive(Debug, Clone)]
pub(crate) enum Source {
    Dev(DevCertificate),
    Pem { cert: PathBuf, key: PathBuf },
}

impl ServerIdentity {
    /// A self-signed development certificate for `localhost`, `127.0.0.1` and `::1`, valid
    /// 13 days and replaced every 7 (see [`DevCertificate`]).
    pub fn dev() -> Self {
        Self::dev_with(DevCertificate::default())
    }

    /// A self-signed development certificate with its own names and schedule.
    pub fn dev_with(dev: DevCertificate) -> Self {
        Self(Source::Dev(dev))
    }

    /// A certificate chain and private key from PEM files. After renewing the files, call
    /// [`QuicHandle::reload_certificate`](crate::QuicHandle::reload_certificate): new sessions
    /// get the new certificate, open ones are kept.
    pub fn pem_files(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self(Source::Pem {
            cert: cert.into(),
            key: key.into(),
        })
    }

    /// Whether this is a self-signed development certificate, which browsers take only
    /// through `serverCertificateHashes`; a CA-issued certificate must not be advertised that
    /// way, or browsers would refuse it for its validity of more than 14 days.
    pub fn is_development(&self) -> bool {
        matches!(self.0, Source::Dev(_))
    }

    /// Loads or makes the identity.
    pub(crate) async fn load(&self) -> Result<Identity, QuicError> {
        match &self.0 {
            Source::Dev(dev) => dev.generate(),
            Source::Pem { cert, key } => Identity::load_pemfiles(cert, key)
                .await
                .map_err(|err| QuicError::Certificate(format!("{}: {err}", cert.display()))),
        }
    }
}

/// A self-signed ECDSA P-256 certificate for development and tests.
///
/// Browsers accept it without a CA through `serverCertificateHashes`, which requires a
/// validity of 14 days or less; so it is replaced before it expires, and both hashes are
/// advertised while both are valid.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DevCertificate {
    /// The subject alternative names. Default `localhost`, `127.0.0.1`, `::1`.
    pub names: Vec<String>,
    /// How long each certificate is valid, from an hour before it is made (clock skew).
    /// Default 13 days; at most 14 days are accepted by browsers.
    pub validity: Duration,
    /// How often a new certificate replaces the current one. Default 7 days.
    pub rotate_every: Duration,
}

impl Default for DevCertificate {
    fn default() -> Self {
        Self {
            names: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            validity: Duration::from_secs(13 * 86_400),
            rotate_every: Duration::from_secs(7 * 86_400),
        }
    }
}

impl DevCertificate {
    /// Sets [`DevCertificate::rotate_every`].
    pub fn rotate_every(mut self, every: Duration) -> Self {
        self.rotate_every = every;
        self
    }

    /// Sets [`DevCertificate::names`].
    pub fn names<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.names = names.into_iter().map(Into::into).collect();
        self
    }

    /// Makes one certificate now, as the server does at start and at every rotation.
    pub fn generate(&self) -> Result<Identity, QuicError> {
        const SKEW: time::Duration = time::Duration::hours(1);
        const BROWSER_MAX: Duration = Duration::from_secs(14 * 86_400);
        let validity = self.validity.min(BROWSER_MAX - Duration::from_secs(3600));
        let validity = time::Duration::try_from(validity)
            .map_err(|err| QuicError::Certificate(err.to_string()))?;
        Identity::self_signed_builder()
            .subject_alt_names(&self.names)
            .not_before(OffsetDateTime::now_utc() - SKEW)
            .offset_from_not_before(validity + SKEW)
            .build()
            .map_err(|err| QuicError::Certificate(err.to_string()))
    }
}

/// The TLS configuration for an identity, as wtransport would build it, but with a bad
/// certificate or key reported instead of panicking: wtransport `expect`s the pair to match,
/// and a renewed chain read before its renewed key does not.
pub(crate) fn tls_config(
    identity: &Identity,
) -> Result<wtransport::config::TlsServerConfig, QuicError> {
    use wtransport::tls::rustls;

    let (chain, key) = crate::tcp_tls::chain_and_key(identity)?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|err| QuicError::Certificate(format!("TLS 1.3: {err}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|err| QuicError::Certificate(format!("certificate and key: {err}")))?;
    config.alpn_protocols = vec![wtransport::tls::WEBTRANSPORT_ALPN.to_vec()];
    Ok(config)
}
