//! TLS on the TCP path with the WebTransport endpoint's own certificate: discovery over
//! `https://`, the WebSocket over `wss://`, a fallback from WebTransport that lands there, a
//! session that resumes over it, and a certificate reload under live `wss` sessions.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quicket::quic::{CertificateHash, DevCertificate, QuicListener, ServerIdentity, ServerTrust};
use quicket::transport::Listener;
use quicket::ws::{WebTransportInfo, WsConfig, WsConnector};
use quicket::{AckSender, Client, Data, FallbackOptions, Server, Socket, TransportKind};
use quicket_testkit::tcp_relay;
use quicket_testkit::within;
use quicket_testkit::{DropPlan, sequence_survives_drops};

/// A certificate and key as PEM files in a directory of this test's own, and the hash of
/// the certificate in them now.
struct PemFiles {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    hash: Mutex<CertificateHash>,
}

impl PemFiles {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "quicket-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let files = Self {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            dir,
            hash: Mutex::new(CertificateHash::from_bytes([0; 32])),
        };
        files.renew();
        files
    }

    /// Writes a fresh certificate over the files; its hash.
    fn renew(&self) -> CertificateHash {
        let identity = DevCertificate::default().generate().unwrap();
        let chain = identity.certificate_chain().as_slice();
        std::fs::write(&self.cert, chain[0].to_pem()).unwrap();
        std::fs::write(&self.key, identity.private_key().to_secret_pem()).unwrap();
        let hash = CertificateHash::of(&identity).unwrap();
        *self.hash.lock().unwrap() = hash;
        hash
    }

    fn hash(&self) -> CertificateHash {
        *self.hash.lock().unwrap()
    }
}

impl Drop for PemFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn connect(base: &str, options: &FallbackOptions) -> Client {
    let connecting = quicket::connect_with(Client::builder(), base, options);
    within("connect", connecting).await.unwrap()
}

fn echo_server() -> Server {
    Server::builder()
        .on_connect(|socket: Socket| async move {
            socket.on(
                "echo",
                |socket: Socket, Data(text): Data<String>, ack: AckSender| async move {
                    let _ = ack.send(format!("{text} over {}", socket.transport()));
                },
            );
        })
        .build()
}

/// The WebTransport endpoint on the PEM files, and a `wss` endpoint with its certificate
/// whose discovery advertises WebTransport on `udp_port` instead.
/// A WebTransport endpoint serving the PEM files on a loopback port.
async fn quic_on(files: &PemFiles) -> QuicListener {
    let identity = ServerIdentity::pem_files(&files.cert, &files.key);
    let listening = QuicListener::builder(identity)
        .bind("127.0.0.1:0".parse().unwrap())
        .listen();
    within("the QUIC endpoint", listening).await.unwrap()
}

async fn endpoints(
    files: &PemFiles,
    server: &Server,
    udp_port: Option<u16>,
) -> (QuicListener, std::net::SocketAddr) {
    let quic = quic_on(files).await;
    let advertised = udp_port.unwrap_or(quic.handle().local_addr().port());
    let config = WsConfig::default()
        .tls(quic.handle().tcp_tls_config().unwrap())
        .webtransport(move || Some(WebTransportInfo::new(advertised, "/quicket", vec![], 1200)));
    let ws = quicket::ws::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let http = ws.local_addr().unwrap();
    server.listen(ws);
    (quic, http)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_discovery_then_a_fallback_from_webtransport_to_wss() {
    let files = PemFiles::new();
    let server = echo_server();
    // WebTransport is advertised on a UDP port that swallows every packet.
    let black_hole = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let blocked = black_hole.local_addr().unwrap().port();
    let (_quic, http) = endpoints(&files, &server, Some(blocked)).await;
    let base = format!("https://127.0.0.1:{}", http.port());
    let options = FallbackOptions::default()
        .trust(ServerTrust::Hashes(vec![files.hash()]))
        .deadline(Duration::from_millis(500));

    let discovery = within("https discovery", quicket::discover_with(&base, &options))
        .await
        .unwrap();
    assert_eq!(
        discovery.websocket,
        format!("wss://127.0.0.1:{}/quicket", http.port())
    );
    assert!(
        discovery.certificate_hashes.is_empty(),
        "a PEM certificate is not pinned by hash"
    );
    let client = connect(&base, &options).await;
    assert_eq!(client.transport(), TransportKind::WebSocket);
    let reply: String = within("echo", client.emit_with_ack("echo", "hi"))
        .await
        .unwrap();
    assert_eq!(reply, "hi over websocket");

    // Trusting another certificate, nothing connects.
    let stranger =
        FallbackOptions::default().trust(ServerTrust::Hashes(vec![CertificateHash::from_bytes(
            [7; 32],
        )]));
    let refused = within("refusal", quicket::discover_with(&base, &stranger)).await;
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("TLS"), "{message}");
    drop(black_hole);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_certificate_serves_webtransport_when_udp_gets_through() {
    let files = PemFiles::new();
    let server = echo_server();
    let (quic, http) = endpoints(&files, &server, None).await;
    server.listen(quic);
    let base = format!("https://127.0.0.1:{}", http.port());
    let options = FallbackOptions::default().trust(ServerTrust::Hashes(vec![files.hash()]));
    let client = connect(&base, &options).await;
    assert_eq!(client.transport(), TransportKind::WebTransport);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_over_wss_resumes_after_drops_with_nothing_lost() {
    let files = PemFiles::new();
    let quic = quic_on(&files).await;
    let config = WsConfig::default().tls(quic.handle().tcp_tls_config().unwrap());
    let listener = quicket::ws::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let relay = Arc::new(tcp_relay::start(listener.local_addr().unwrap()).await);
    let tls = ServerTrust::Hashes(vec![files.hash()])
        .tcp_client_config()
        .unwrap();
    let connector =
        WsConnector::new(format!("wss://127.0.0.1:{}/quicket", relay.addr.port())).tls(tls);
    let cutter = Arc::clone(&relay);
    let report = sequence_survives_drops(
        Server::builder(),
        listener,
        connector,
        DropPlan::clean(5),
        move |_socket| cutter.cut(),
    )
    .await;
    assert_eq!(report.reconnects, 5, "each drop resumed over wss");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_serves_the_new_certificate_and_keeps_live_wss_sessions() {
    let files = PemFiles::new();
    let server = echo_server();
    let (quic, http) = endpoints(&files, &server, None).await;
    let handle = quic.handle();
    let url = format!("wss://127.0.0.1:{}/quicket", http.port());
    let trusting = |hash: CertificateHash| {
        WsConnector::new(url.clone())
            .tls(ServerTrust::Hashes(vec![hash]).tcp_client_config().unwrap())
    };
    let old = files.hash();
    let live = within("connect", Client::builder().connect(&trusting(old)))
        .await
        .unwrap();

    let new = files.renew();
    assert_ne!(new, old);
    within("reload", handle.reload_certificate()).await.unwrap();

    let reply: String = within(
        "echo on the live session",
        live.emit_with_ack("echo", "still"),
    )
    .await
    .unwrap();
    assert_eq!(reply, "still over websocket");
    let fresh = within(
        "connect after the reload",
        Client::builder().connect(&trusting(new)),
    )
    .await
    .unwrap();
    let reply: String = within("echo", fresh.emit_with_ack("echo", "new"))
        .await
        .unwrap();
    assert_eq!(reply, "new over websocket");
    let stale = within(
        "connect pinned to the old one",
        Client::builder().connect(&trusting(old)),
    )
    .await;
    assert!(stale.is_err(), "new connections get the new certificate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_reads_https_discovery_falls_back_to_wss_and_resumes_there() {
    let files = PemFiles::new();
    let server = echo_server();
    let quic = quic_on(&files).await;
    let black_hole = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let blocked = black_hole.local_addr().unwrap().port();
    // The WebSocket goes through a relay that can cut it, so discovery names the relay.
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws_addr = tcp.local_addr().unwrap();
    drop(tcp);
    let relay = tcp_relay::start(ws_addr).await;
    let config = WsConfig::default()
        .tls(quic.handle().tcp_tls_config().unwrap())
        .public_host(format!("127.0.0.1:{}", relay.addr.port()))
        .webtransport(move || Some(WebTransportInfo::new(blocked, "/quicket", vec![], 1200)));
    let ws = quicket::ws::bind(ws_addr, config).await.unwrap();
    server.listen(ws);

    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let builder = Client::builder().on_reconnect(move |event: &quicket::ReconnectEvent| {
        let _ = events_tx.send(event.clone());
    });
    let options = FallbackOptions::default()
        .trust(ServerTrust::Hashes(vec![files.hash()]))
        .deadline(Duration::from_millis(500));
    let base = format!("https://127.0.0.1:{}", ws_addr.port());
    let client = within("connect", quicket::connect_with(builder, &base, &options))
        .await
        .unwrap();
    assert_eq!(client.transport(), TransportKind::WebSocket);
    let id = client.id();
    relay.cut();
    let recovered = within("the resume", async {
        loop {
            if let Some(quicket::ReconnectEvent::Reconnected { recovered, .. }) =
                events.recv().await
            {
                return recovered;
            }
        }
    })
    .await;
    assert!(recovered, "the session resumed over wss");
    assert_eq!(client.id(), id);
    let reply: String = within("echo", client.emit_with_ack("echo", "back"))
        .await
        .unwrap();
    assert_eq!(reply, "back over websocket");
    drop(black_hole);
}
