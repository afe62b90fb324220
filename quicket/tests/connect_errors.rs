//! A connection that fails says where and at which stage: discovery, WebTransport, WebSocket.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::time::Duration;

use quicket::FallbackOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A loopback port with nothing listening on TCP or UDP: bound, then released.
fn dead_port() -> u16 {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.local_addr().unwrap().port()
}

async fn error<T>(
    connecting: impl Future<Output = Result<T, quicket::ConnectError>>,
) -> quicket::ConnectError {
    match tokio::time::timeout(Duration::from_secs(15), connecting).await {
        Ok(Err(err)) => err,
        Ok(Ok(_)) => panic!("connected to nothing"),
        Err(_) => panic!("no answer within 15 s"),
    }
}

/// The error and its causes, as `anyhow`'s `{:#}` prints them.
async fn failure<T>(connecting: impl Future<Output = Result<T, quicket::ConnectError>>) -> String {
    quicket::with_causes(&error(connecting).await)
}

#[tokio::test]
async fn discovery_failures_name_the_document() {
    let port = dead_port();
    let message = failure(quicket::connect(&format!("http://127.0.0.1:{port}"))).await;
    let url = format!("http://127.0.0.1:{port}/quicket/info");
    assert!(
        message.starts_with(&format!("cannot connect: discovery at {url}: ")),
        "{message}"
    );
    let message = failure(quicket::connect("ftp://example.invalid")).await;
    assert!(
        message.contains("must start with http:// or https://"),
        "{message}"
    );
}

#[tokio::test]
async fn a_websocket_failure_names_its_url() {
    let url = format!("ws://127.0.0.1:{}/quicket", dead_port());
    let message = failure(quicket::connect_ws(&url)).await;
    assert!(
        message.starts_with(&format!("cannot connect: WebSocket {url}: ")),
        "{message}"
    );
}

#[tokio::test]
async fn the_operating_systems_error_is_the_source() {
    let url = format!("ws://127.0.0.1:{}/quicket", dead_port());
    let err = error(quicket::connect_ws(&url)).await;
    let source = std::error::Error::source(&err).expect("a source");
    let io = source
        .downcast_ref::<std::io::Error>()
        .expect("an I/O error");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    assert_eq!(
        err.to_string(),
        format!("cannot connect: WebSocket {url}: TCP")
    );
}

#[tokio::test]
async fn a_fallback_that_fails_names_both_transports() {
    // A discovery document whose transports both lead nowhere.
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", http.local_addr().unwrap());
    let (wt, ws) = (
        format!("https://127.0.0.1:{}/quicket", dead_port()),
        format!("ws://127.0.0.1:{}/quicket", dead_port()),
    );
    let document = format!(
        r#"{{"protocolVersion":1,"webtransport":"{wt}","certificateHashes":[{{"algorithm":"sha-256","value":"{}"}}],"websocket":"{ws}","maxDatagramSize":1200}}"#,
        "A".repeat(43) + "="
    );
    tokio::spawn(async move {
        let (mut tcp, _) = http.accept().await.unwrap();
        let mut request = [0u8; 1024];
        let _ = tcp.read(&mut request).await.unwrap();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{document}",
            document.len()
        );
        tcp.write_all(response.as_bytes()).await.unwrap();
    });
    let options = FallbackOptions::default().deadline(Duration::from_millis(500));
    let message = failure(quicket::connect_with(
        quicket::Client::builder(),
        &base,
        &options,
    ))
    .await;
    assert!(
        message.starts_with(&format!(
            "cannot connect: WebSocket {ws} (tried after WebTransport {wt}: "
        )),
        "{message}"
    );
}
