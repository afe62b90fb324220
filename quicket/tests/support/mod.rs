//! What the quicket crate's tests share: a raw HTTP/1.1 GET, to see exactly what the server
//! answers (status, headers, body) with no client library in between.

use std::net::SocketAddr;

use quicket_testkit::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A response as it came.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// A header's value, by case-insensitive name.
    #[allow(dead_code)] // Not every test binary reads headers.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

/// `GET path` on `http`, with `extra` header lines (each ending in `\r\n`).
pub(crate) async fn get(http: SocketAddr, path: &str, extra: &str) -> Response {
    let exchange = async {
        let mut tcp = tokio::net::TcpStream::connect(http).await.unwrap();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n{extra}\r\n");
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).await.unwrap();
        raw
    };
    let raw = within("the response", exchange).await;
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
