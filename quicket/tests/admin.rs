//! The admin view: off by default, refused with a weak token, 401 without the token, and with
//! it the live connections of both transports, their rooms, and the presence of a room.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

mod support;

use std::net::SocketAddr;

use quicket::admin::{AdminConfig, AdminError};
use quicket::{AckSender, Client, Endpoints, FallbackOptions, ServeError, Server, Socket};
use quicket_testkit::within;
use serde_json::Value;

const TOKEN: &str = "an-admin-token-of-some-length";

/// The status and body of `GET path`, with `token` as the bearer if given.
async fn get(http: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let response = support::get(http, path, &auth).await;
    (response.status, response.text())
}

fn server() -> Server {
    Server::builder()
        .on_connect(|socket: Socket| async move {
            socket.on("enter", |socket: Socket, ack: AckSender| async move {
                socket.join("lobby").unwrap();
                socket.presence("lobby").track("ada", "online").unwrap();
                let _ = ack.send(());
            });
        })
        .build()
}

async fn serve(server: &Server, endpoints: Endpoints) -> Result<SocketAddr, ServeError> {
    let loopback = "127.0.0.1:0".parse().unwrap();
    let serving = quicket::serve(server, endpoints.bind(loopback, loopback)).await?;
    Ok(serving.http)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_view_lists_live_connections_behind_its_token() {
    let server = server();
    let http = serve(&server, Endpoints::default().admin(AdminConfig::new(TOKEN)))
        .await
        .unwrap();
    let base = format!("http://{http}");
    let webtransport = within("connect", quicket::connect(&base)).await.unwrap();
    let options = FallbackOptions::default().websocket_only();
    let websocket = within(
        "connect",
        quicket::connect_with(Client::builder(), &base, &options),
    )
    .await
    .unwrap();
    within("enter", webtransport.emit_with_ack::<()>("enter", ()))
        .await
        .unwrap();

    assert_eq!(get(http, "/quicket/admin/api/sockets", None).await.0, 401);
    assert_eq!(
        get(
            http,
            "/quicket/admin/api/sockets",
            Some("a-wrong-token-of-the-length")
        )
        .await
        .0,
        401
    );
    let (status, page) = get(http, "/quicket/admin", None).await;
    assert_eq!(status, 200, "the page itself holds no data");
    assert!(page.contains("quicket admin"));

    let (status, body) = get(http, "/quicket/admin/api/sockets", Some(TOKEN)).await;
    assert_eq!(status, 200);
    let listed: Value = serde_json::from_str(&body).unwrap();
    let mut transports: Vec<(&str, &str)> = listed["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["transport"].as_str().unwrap()))
        .collect();
    transports.sort_by_key(|(_, transport)| *transport);
    let ids = [websocket.id().to_string(), webtransport.id().to_string()];
    assert_eq!(
        transports,
        [
            (ids[0].as_str(), "websocket"),
            (ids[1].as_str(), "webtransport")
        ]
    );

    let quic_row = listed["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["transport"] == "webtransport")
        .unwrap();
    assert!(
        quic_row["path"]["rttMs"].as_f64().unwrap() > 0.0,
        "{quic_row}"
    );
    assert!(quic_row["path"]["sentPackets"].as_u64().unwrap() > 0);

    let (_, body) = get(http, "/quicket/admin/api/overview", Some(TOKEN)).await;
    let overview: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(overview["connections"], 2);
    assert_eq!(overview["byTransport"]["webtransport"], 1);
    assert_eq!(overview["byTransport"]["websocket"], 1);

    let (_, body) = get(http, "/quicket/admin/api/rooms/lobby", Some(TOKEN)).await;
    let lobby: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(lobby["members"], serde_json::json!([ids[1]]));
    assert_eq!(lobby["presence"][0]["key"], "ada");
}

#[tokio::test]
async fn the_admin_view_is_off_by_default_and_refuses_a_weak_token() {
    let server = server();
    let http = serve(&server, Endpoints::default()).await.unwrap();
    assert_eq!(
        get(http, "/quicket/admin/api/overview", Some(TOKEN))
            .await
            .0,
        404
    );
    assert_eq!(get(http, "/quicket/admin", None).await.0, 404);
    let weak = serve(
        &server,
        Endpoints::default().admin(AdminConfig::new("short")),
    )
    .await;
    assert!(matches!(
        weak,
        Err(ServeError::Admin(AdminError::WeakToken))
    ));
}
