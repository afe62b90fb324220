//! `quicket::serve` serves the browser client from inside the crate at `/quicket/client.js`,
//! with a validator so a page downloads it only when it changed, and not when told not to.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

mod support;

use std::net::SocketAddr;

use quicket::{CLIENT_SCRIPT, CLIENT_SCRIPT_PATH, Endpoints, Server};
use support::get;

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
    let text = first.text();
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
