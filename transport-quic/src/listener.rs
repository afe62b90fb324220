//! The server side: a WebTransport endpoint whose sessions become core connections.

use std::collections::HashMap;
use std::future::Future;
use std::net::{Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};

use quicket_core::transport::{Listener, SourceLimit, TransportError};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use wtransport::endpoint::endpoint_side::Server;
use wtransport::endpoint::{IncomingSession, SessionRequest as WtRequest};
use wtransport::{Endpoint, Identity, ServerConfig};

use crate::config::QuicLimits;
use crate::connection::{QuicConnection, Side};
use crate::error::QuicError;
use crate::identity::{CertificateHash, ServerIdentity, Source, tls_config};
use crate::tcp_tls::CurrentCertificate;

/// The default path of quicket's WebTransport endpoint.
pub const DEFAULT_PATH: &str = "/quicket";

/// What the pre-accept hook sees of a session request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionRequest {
    /// The request path, without the query.
    pub path: String,
    /// The query string after `?`, if any (e.g. `token=abc`).
    pub query: Option<String>,
    /// The `Origin` header: a browser page's origin.
    pub origin: Option<String>,
    /// The `:authority` the client asked for.
    pub authority: String,
    /// Every request header.
    pub headers: HashMap<String, String>,
    /// The client's address.
    pub remote: SocketAddr,
}

impl SessionRequest {
    /// The value of one query parameter (no percent-decoding).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.as_deref()?.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then_some(value)
        })
    }
}

/// The pre-accept hook's verdict, given before a session is spent on the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admission {
    /// Accept the session; core's handshake (and auth) follows on its first frame.
    Accept,
    /// Refuse with HTTP 403.
    Forbidden,
    /// Refuse with HTTP 429.
    TooManyRequests,
}

/// A pre-accept hook, shareable: see [`QuicListenerBuilder::pre_accept`].
pub type PreAcceptHook =
    Arc<dyn Fn(SessionRequest) -> Pin<Box<dyn Future<Output = Admission> + Send>> + Send + Sync>;

/// Builds a [`QuicListener`].
#[must_use]
pub struct QuicListenerBuilder {
    identity: ServerIdentity,
    addr: SocketAddr,
    path: String,
    limits: QuicLimits,
    hook: Option<PreAcceptHook>,
    origins: Option<Arc<[String]>>,
}

impl QuicListenerBuilder {
    /// The address to bind. Default `[::]:4433`, dual-stack, so `localhost`, `127.0.0.1`
    /// and `[::1]` all reach it; port 0 picks a free one.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// The WebTransport path (default `/quicket`); other paths get 404.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// The endpoint's limits.
    pub fn limits(mut self, limits: QuicLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Decides on each session request (path, origin, headers, query token) before a session
    /// is spent on it.
    pub fn pre_accept<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(SessionRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Admission> + Send + 'static,
    {
        self.hook = Some(Arc::new(move |request| Box::pin(hook(request))));
        self
    }

    /// The same, already shared (as `quicket::Endpoints` holds it).
    pub fn pre_accept_hook(mut self, hook: PreAcceptHook) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Accepts browser pages from these origins only (e.g. `https://game.example`); a
    /// session request from another gets 403 before a session is spent on it. Native clients
    /// send no `Origin` and are accepted.
    pub fn allow_origins<I: IntoIterator<Item = S>, S: Into<String>>(mut self, origins: I) -> Self {
        self.origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Binds the endpoint and starts accepting.
    pub async fn listen(self) -> Result<QuicListener, QuicError> {
        let identity = self.identity.load().await?;
        let socket = udp_socket(self.addr, self.limits.udp_buffer_size)?;
        let hash = CertificateHash::of(&identity);
        let tcp_certificate = Arc::new(CurrentCertificate::new(&identity)?);
        let config = server_config(identity, &self.limits, Some(socket))?;
        let endpoint = Arc::new(Endpoint::server(config)?);
        let local_addr = endpoint.local_addr()?;
        let handle = QuicHandle {
            shared: Arc::new(Shared {
                endpoint: Arc::clone(&endpoint),
                identity: self.identity,
                limits: self.limits.clone(),
                hashes: RwLock::new(hash.into_iter().collect()),
                tcp_certificate,
                local_addr,
                path: self.path.clone(),
            }),
        };
        let (tx, incoming) = mpsc::channel(64);
        let accept = Accept {
            endpoint,
            path: self.path,
            limits: self.limits,
            hook: self.hook,
            origins: self.origins,
        };
        let mut tasks = vec![tokio::spawn(accept.run(tx))];
        if let Source::Dev(dev) = &handle.shared.identity.0 {
            tasks.push(tokio::spawn(rotate(handle.clone(), dev.rotate_every)));
        }
        Ok(QuicListener {
            incoming,
            handle,
            tasks,
        })
    }
}

/// A bound WebTransport endpoint; give it to `Server::listen`.
pub struct QuicListener {
    incoming: mpsc::Receiver<QuicConnection>,
    handle: QuicHandle,
    tasks: Vec<JoinHandle<()>>,
}

impl QuicListener {
    /// Starts building a listener with `identity`.
    pub fn builder(identity: ServerIdentity) -> QuicListenerBuilder {
        QuicListenerBuilder {
            identity,
            addr: SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 4433),
            path: DEFAULT_PATH.to_owned(),
            limits: QuicLimits::default(),
            hook: None,
            origins: None,
        }
    }

    /// A handle that outlives the move into `Server::listen`: certificate hashes, reloads,
    /// the bound address.
    pub fn handle(&self) -> QuicHandle {
        self.handle.clone()
    }
}

impl Drop for QuicListener {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
        // quinn keeps queueing newcomers while the endpoint lives (open sessions, handles):
        // refuse them at once until the open sessions are gone, then let the endpoint go.
        let endpoint = Arc::clone(&self.handle.shared.endpoint);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                loop {
                    tokio::select! {
                        incoming = endpoint.accept() => incoming.refuse(),
                        () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {
                            if endpoint.open_connections() == 0 {
                                return;
                            }
                        }
                    }
                }
            });
        }
    }
}

impl Listener for QuicListener {
    type Connection = QuicConnection;

    async fn accept(&mut self) -> Result<QuicConnection, TransportError> {
        self.incoming.recv().await.ok_or(TransportError::Closed)
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        Some(self.handle.shared.local_addr)
    }
}

/// Controls a running listener.
#[derive(Clone)]
pub struct QuicHandle {
    shared: Arc<Shared>,
}

struct Shared {
    endpoint: Arc<Endpoint<Server>>,
    identity: ServerIdentity,
    limits: QuicLimits,
    /// The current certificate's hash first, then the previous one while it is still valid.
    hashes: RwLock<Vec<CertificateHash>>,
    /// The same certificate for TLS over TCP, replaced with it.
    tcp_certificate: Arc<CurrentCertificate>,
    local_addr: SocketAddr,
    path: String,
}

impl QuicHandle {
    /// The hashes browsers may pin in `serverCertificateHashes`: the current certificate's
    /// first, then the previous one while both are valid.
    pub fn certificate_hashes(&self) -> Vec<CertificateHash> {
        self.shared
            .hashes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A TLS configuration for HTTP/1.1 over TCP (`quicket-ws`'s `WsConfig::tls`) that serves
    /// this endpoint's certificate and follows its reloads and rotations: one identity for
    /// both transports.
    pub fn tcp_tls_config(&self) -> Result<Arc<crate::tls::ServerConfig>, QuicError> {
        self.shared.tcp_certificate.server_config()
    }

    /// The address the endpoint is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The WebTransport path it serves.
    pub fn path(&self) -> &str {
        &self.shared.path
    }

    /// Loads the certificate again (renewed PEM files, or a fresh development certificate)
    /// and serves it to new sessions; open sessions keep theirs.
    pub async fn reload_certificate(&self) -> Result<(), QuicError> {
        let identity = self.shared.identity.load().await?;
        let hash = CertificateHash::of(&identity);
        self.shared.tcp_certificate.replace(&identity)?;
        let config = server_config(identity, &self.shared.limits, None)?;
        self.shared.endpoint.reload_config(config, false)?;
        if let Some(hash) = hash {
            let mut hashes = self
                .shared
                .hashes
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let previous = hashes.first().copied();
            *hashes = std::iter::once(hash).chain(previous).collect();
        }
        tracing::info!(hashes = ?self.certificate_hashes(), "certificate reloaded");
        Ok(())
    }
}

/// Replaces the development certificate on schedule.
async fn rotate(handle: QuicHandle, every: std::time::Duration) {
    loop {
        tokio::time::sleep(every).await;
        if let Err(err) = handle.reload_certificate().await {
            tracing::error!(%err, "could not rotate the development certificate");
        }
    }
}

fn server_config(
    identity: Identity,
    limits: &QuicLimits,
    socket: Option<std::net::UdpSocket>,
) -> Result<ServerConfig, QuicError> {
    let transport = limits.transport_config();
    let builder = match socket {
        Some(socket) => ServerConfig::builder().with_bind_socket(socket),
        // A reload keeps the bound socket; this address is not used.
        None => ServerConfig::builder().with_bind_default(0),
    };
    let tls = tls_config(&identity)?;
    let mut config = builder
        .with_custom_tls_and_transport(tls, transport)
        .build();
    config
        .quic_config_mut()
        .max_incoming(limits.max_pending_handshakes.max(1));
    Ok(config)
}

/// A UDP socket with deliberate buffer sizes, dual-stack when bound to `[::]`.
fn udp_socket(addr: SocketAddr, buffer: usize) -> Result<std::net::UdpSocket, QuicError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    for (what, result) in [
        ("send", socket.set_send_buffer_size(buffer)),
        ("receive", socket.set_recv_buffer_size(buffer)),
    ] {
        if let Err(err) = result {
            tracing::warn!(%err, what, buffer, "could not size the UDP buffer");
        }
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The accept loop: each incoming session is established on its own task, under caps on
/// handshakes in flight, in all and per source address, and with address validation (Retry)
/// once many are in flight; a failed or hostile handshake never reaches the loop.
struct Accept {
    endpoint: Arc<Endpoint<Server>>,
    path: String,
    limits: QuicLimits,
    hook: Option<PreAcceptHook>,
    origins: Option<Arc<[String]>>,
}

impl Accept {
    async fn run(self, established: mpsc::Sender<QuicConnection>) {
        let this = Arc::new(self);
        let max = this.limits.max_pending_handshakes.max(1);
        let handshakes = Arc::new(Semaphore::new(max));
        let per_source = SourceLimit::new(this.limits.max_handshakes_per_source.max(1));
        loop {
            let incoming = tokio::select! {
                incoming = this.endpoint.accept() => incoming,
                () = established.closed() => return,
            };
            let remote = incoming.remote_address();
            let in_flight = max - handshakes.available_permits();
            if in_flight >= this.limits.retry_above && !incoming.remote_address_validated() {
                // Stateless: the client comes back with a token, or never does.
                incoming.retry();
                continue;
            }
            let Some(source) = per_source.take(crate::connection::canonical(remote).ip()) else {
                // Dropped unanswered rather than refused: a client behind a busy address (a
                // gateway, a NAT) sends its Initial again a moment later and gets in then,
                // while a flood is not even answered.
                tracing::debug!(%remote, "too many handshakes from this source; Initial dropped");
                incoming.ignore();
                continue;
            };
            let Ok(permit) = Arc::clone(&handshakes).try_acquire_owned() else {
                tracing::debug!(%remote, "too many handshakes; refused");
                incoming.refuse();
                continue;
            };
            let this = Arc::clone(&this);
            let established = established.clone();
            tokio::spawn(async move {
                let timeout = this.limits.handshake_timeout;
                match tokio::time::timeout(timeout, this.establish(incoming)).await {
                    Ok(Ok(connection)) => {
                        // The permit goes with the hand-over, so sessions waiting for core
                        // count against the cap too.
                        let _listener_gone = established.send(connection).await;
                        drop((permit, source));
                    }
                    Ok(Err(why)) => tracing::debug!(%why, "session not established"),
                    Err(_) => tracing::debug!("session handshake timed out"),
                }
            });
        }
    }

    async fn establish(&self, incoming: IncomingSession) -> Result<QuicConnection, String> {
        let request = incoming.await.map_err(|err| err.to_string())?;
        let info = describe(&request);
        if info.path != self.path {
            request.not_found().await;
            return Err(format!("unknown path {}", info.path));
        }
        let foreign = match (&self.origins, &info.origin) {
            (Some(allowed), Some(origin)) => !allowed.iter().any(|a| a == origin),
            _ => false,
        };
        let admission = match &self.hook {
            _ if foreign => Admission::Forbidden,
            Some(hook) => hook(info).await,
            None => Admission::Accept,
        };
        match admission {
            Admission::Accept => {}
            Admission::Forbidden => {
                request.forbidden().await;
                return Err("refused by the pre-accept hook (403)".into());
            }
            Admission::TooManyRequests => {
                request.too_many_requests().await;
                return Err("refused by the pre-accept hook (429)".into());
            }
        }
        let session = request.accept().await.map_err(|err| err.to_string())?;
        // The client opens the reliable stream with its `Hello`; a session that never does
        // ends with this handshake's timeout.
        let (send, recv) = session.accept_bi().await.map_err(|err| err.to_string())?;
        Ok(QuicConnection::new(
            session,
            (send, recv),
            &self.limits,
            Side::Server,
        ))
    }
}

fn describe(request: &WtRequest) -> SessionRequest {
    let (path, query) = match request.path().split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (request.path().to_owned(), None),
    };
    SessionRequest {
        path,
        query,
        origin: request.origin().map(str::to_owned),
        authority: request.authority().to_owned(),
        headers: request.headers().clone(),
        remote: crate::connection::canonical(request.remote_address()),
    }
}
