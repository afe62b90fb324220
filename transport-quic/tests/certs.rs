//! Certificates: the development certificate browsers accept, PEM files, reloads, rotation.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

mod common;

use std::time::Duration;

use common::{client, connector, serve, within};
use quicket_core::{Client, ServerConfig, TransportKind};
use quicket_quic::{CertificateHash, DevCertificate, ServerIdentity, ServerTrust};
use quicket_testkit::pong_server;
use wtransport::Identity;

async fn ping(client: &Client) -> String {
    within("ping", client.emit_with_ack("ping", ()))
        .await
        .unwrap()
}

/// Reads `notBefore` and `notAfter` (UTCTime, seconds since the epoch) from a certificate's
/// DER, walking Certificate → TBSCertificate → Validity by hand.
fn validity(der: &[u8]) -> (i64, i64) {
    fn header(der: &[u8]) -> (u8, usize, usize) {
        let tag = der[0];
        let (len, skip) = match der[1] {
            n if n < 0x80 => (usize::from(n), 2),
            0x81 => (usize::from(der[2]), 3),
            0x82 => (usize::from(der[2]) << 8 | usize::from(der[3]), 4),
            other => panic!("unexpected DER length byte {other:#x}"),
        };
        (tag, skip, len)
    }
    fn enter(der: &[u8]) -> &[u8] {
        let (_, skip, len) = header(der);
        &der[skip..skip + len]
    }
    fn skip(der: &[u8]) -> &[u8] {
        let (_, skip, len) = header(der);
        &der[skip + len..]
    }
    fn utc_time(der: &[u8]) -> i64 {
        let (tag, skip, len) = header(der);
        assert_eq!(tag, 0x17, "UTCTime");
        let text = std::str::from_utf8(&der[skip..skip + len]).unwrap();
        let field = |at: usize| text[at..at + 2].parse::<i64>().unwrap();
        let (year, month, day) = (2000 + field(0), field(2), field(4));
        let days = days_from_civil(year, month, day);
        days * 86_400 + field(6) * 3600 + field(8) * 60 + field(10)
    }
    fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }
    let tbs = enter(enter(der));
    let mut rest = tbs;
    if rest[0] == 0xA0 {
        rest = skip(rest); // [0] version
    }
    rest = skip(skip(skip(rest))); // serial, signature algorithm, issuer
    let validity = enter(rest);
    (utc_time(validity), utc_time(skip(validity)))
}

#[test]
fn the_dev_certificate_is_valid_14_days_or_less_and_its_hash_is_its_der() {
    let identity = DevCertificate::default().generate().unwrap();
    let der = identity.certificate_chain().as_slice()[0].der();
    let (not_before, not_after) = validity(der);
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    assert!(
        not_after - not_before <= 14 * 86_400,
        "valid {} s",
        not_after - not_before
    );
    assert!(not_before <= now && now < not_after, "valid now");
    // The advertised hash is SHA-256 of the DER, computed here independently.
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let hash = CertificateHash::of(&identity).unwrap();
    assert_eq!(hash.as_bytes(), digest.as_ref());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hash.to_hex(), hex);
    assert_eq!(hash.to_base64().len(), 44);
    assert!(hash.to_base64().ends_with('='));

    // The DER walker reads what was made.
    let made = Identity::self_signed_builder()
        .subject_alt_names(["localhost"])
        .from_now_utc()
        .validity_days(3)
        .build()
        .unwrap();
    let (not_before, not_after) = validity(made.certificate_chain().as_slice()[0].der());
    assert_eq!(not_after - not_before, 3 * 86_400);
}

#[test]
fn base64_of_a_known_digest() {
    // SHA-256("abc"), whose base64 is published in RFC 6234's test vectors' usual rendering.
    let digest = ring::digest::digest(&ring::digest::SHA256, b"abc");
    let identity_free =
        quicket_quic::CertificateHash::from_bytes(digest.as_ref().try_into().unwrap());
    assert_eq!(
        identity_free.to_base64(),
        "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
    );
}

#[tokio::test]
async fn the_dev_certificate_served_is_within_the_browser_limit() {
    // wtransport's hash-pinning client enforces what Chromium does: ECDSA, at most 14 days,
    // currently valid. A session that opens proves the served certificate passes.
    let server = pong_server(ServerConfig::default());
    let quic = serve(&server).await;
    let client = client(&quic, "127.0.0.1").await;
    assert_eq!(client.transport(), TransportKind::WebTransport);
    assert_eq!(ping(&client).await, "pong");
}

#[tokio::test]
async fn dual_stack_serves_ipv4_ipv6_and_localhost() {
    let server = pong_server(ServerConfig::default());
    let quic = serve(&server).await;
    for host in ["127.0.0.1", "[::1]", "localhost"] {
        let client = client(&quic, host).await;
        assert_eq!(ping(&client).await, "pong", "{host}");
        let socket = server.socket(client.id()).unwrap();
        assert!(socket.peer_addr().unwrap().ip().is_loopback(), "{host}");
    }
}

#[tokio::test]
async fn a_wrong_certificate_hash_is_refused_and_the_server_goes_on() {
    let server = pong_server(ServerConfig::default());
    let quic = serve(&server).await;
    let url = format!("https://127.0.0.1:{}/quicket", quic.local_addr().port());
    let wrong = quicket_quic::QuicConnector::new(url, ServerTrust::Hashes(vec![])).unwrap();
    assert!(
        within("refusal", Client::builder().connect(&wrong))
            .await
            .is_err()
    );
    let client = client(&quic, "127.0.0.1").await;
    assert_eq!(ping(&client).await, "pong");
}

#[tokio::test]
async fn pem_files_serve_and_reload_without_dropping_sessions() {
    let dir = std::env::temp_dir().join(format!("quicket-pem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let write = |identity: &Identity| {
        std::fs::write(&cert, identity.certificate_chain().as_slice()[0].to_pem()).unwrap();
        std::fs::write(&key, identity.private_key().to_secret_pem()).unwrap();
        CertificateHash::of(identity).unwrap()
    };
    let first = write(&Identity::self_signed(["localhost", "127.0.0.1"]).unwrap());
    let listener = common::listener_with(ServerIdentity::pem_files(&cert, &key))
        .await
        .unwrap();
    let quic = listener.handle();
    assert_eq!(quic.certificate_hashes(), [first]);
    let server = pong_server(ServerConfig::default());
    server.listen(listener);
    let old = client(&quic, "127.0.0.1").await;
    assert_eq!(ping(&old).await, "pong");

    let second = write(&Identity::self_signed(["localhost", "127.0.0.1"]).unwrap());
    quic.reload_certificate().await.unwrap();
    assert_eq!(quic.certificate_hashes(), [second, first]);
    let url = format!("https://127.0.0.1:{}/quicket", quic.local_addr().port());
    let pinned_new =
        quicket_quic::QuicConnector::new(&url, ServerTrust::Hashes(vec![second])).unwrap();
    let new = within("connect", Client::builder().connect(&pinned_new))
        .await
        .unwrap();
    assert_eq!(ping(&new).await, "pong");
    let pinned_old =
        quicket_quic::QuicConnector::new(&url, ServerTrust::Hashes(vec![first])).unwrap();
    assert!(
        within("refusal", Client::builder().connect(&pinned_old))
            .await
            .is_err(),
        "new sessions get the new certificate"
    );
    assert_eq!(
        ping(&old).await,
        "pong",
        "the session from before the reload goes on"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_dev_certificate_rotates_and_both_hashes_are_advertised() {
    let dev = DevCertificate::default().rotate_every(Duration::from_millis(300));
    let listener = common::listener_with(ServerIdentity::dev_with(dev))
        .await
        .unwrap();
    let quic = listener.handle();
    let first = quic.certificate_hashes();
    assert_eq!(first.len(), 1);
    let server = pong_server(ServerConfig::default());
    server.listen(listener);
    let old = client(&quic, "127.0.0.1").await;
    within("a rotation", async {
        while quic.certificate_hashes().len() < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let hashes = quic.certificate_hashes();
    assert_eq!(
        hashes[1], first[0],
        "the previous certificate is still advertised"
    );
    assert_ne!(hashes[0], first[0]);
    let new = within(
        "connect",
        Client::builder().connect(&connector(&quic, "127.0.0.1")),
    )
    .await
    .unwrap();
    assert_eq!(ping(&new).await, "pong");
    assert_eq!(ping(&old).await, "pong", "sessions survive the rotation");
}

#[tokio::test]
async fn a_key_that_does_not_match_its_certificate_is_an_error_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("quicket-mismatch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let one = Identity::self_signed(["localhost", "127.0.0.1"]).unwrap();
    let other = Identity::self_signed(["localhost", "127.0.0.1"]).unwrap();
    std::fs::write(&cert, one.certificate_chain().as_slice()[0].to_pem()).unwrap();
    std::fs::write(&key, other.private_key().to_secret_pem()).unwrap();
    let refused = common::listener_with(ServerIdentity::pem_files(&cert, &key)).await;
    assert!(matches!(
        refused,
        Err(quicket_quic::QuicError::Certificate(_))
    ));

    // A reload that reads a renewed chain before its renewed key fails, and serving goes on.
    std::fs::write(&key, one.private_key().to_secret_pem()).unwrap();
    let listener = common::listener_with(ServerIdentity::pem_files(&cert, &key))
        .await
        .unwrap();
    let quic = listener.handle();
    let server = pong_server(ServerConfig::default());
    server.listen(listener);
    std::fs::write(&cert, other.certificate_chain().as_slice()[0].to_pem()).unwrap();
    assert!(quic.reload_certificate().await.is_err());
    let client = client(&quic, "127.0.0.1").await;
    assert_eq!(ping(&client).await, "pong");
    std::fs::remove_dir_all(&dir).ok();
}
