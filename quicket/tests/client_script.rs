//! `quicket::serve` serves the browser client from inside the crate at `/quicket/client.js`,
//! with a validator so a page downloads it only when it changed, and not when told not to.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

use std::net::SocketAddr;
use std::time::Duration;

use quicket::{CLIENT_SCRIPT, CLIENT_SCRIPT_PATH, Endpoints, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A response as it came: the status, the header lines, the body.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

async fn get(http: SocketAddr, path: &str, extra: &str) -> Response {
    let exchange = async {
        let mut tcp = tokio::net::TcpStream::connect(http).await.unwrap();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n{extra}\r\n");
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).await.unwrap();
        raw
    };
    let raw = tokio::time::timeout(Duration::from_secs(15), exchange)
        .await
        .expect("the response within 15 s");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers = lines
        .map(|line| {
            let (key, value) = line.split_once(':').unwrap();
            (key.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

async fn serve(endpoints: Endpoints) -> SocketAddr {
    let loopback = "127.0.0.1:0".parse().unwrap();
    let serving = quicket::serve(
        &Server::builder().build(),
        endpoints.bind(loopback, loopback),
    )
    .await
    .unwrap();
    serving.http
}

#[tokio::test]
async fn serve_hands_out_the_bundled_client_and_revalidates_it() {
    let http = serve(Endpoints::default()).await;
    let first = get(http, CLIENT_SCRIPT_PATH, "").await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(first.header("cache-control"), Some("no-cache"));
    assert_eq!(first.body, CLIENT_SCRIPT.as_bytes());
    let text = String::from_utf8(first.body.clone()).unwrap();
    assert!(
        text.contains("export {") && text.contains("connect"),
        "an ES module exporting connect"
    );
    let etag = first.header("etag").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    let again = get(
        http,
        CLIENT_SCRIPT_PATH,
        &format!("If-None-Match: {etag}\r\n"),
    )
    .await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let stale = get(http, CLIENT_SCRIPT_PATH, "If-None-Match: \"0\"\r\n").await;
    assert_eq!(stale.status, 200, "another version's tag gets the script");
}

#[tokio::test]
async fn the_client_route_can_be_turned_off() {
    let http = serve(Endpoints::default().client_script(false)).await;
    assert_eq!(get(http, CLIENT_SCRIPT_PATH, "").await.status, 404);
}
