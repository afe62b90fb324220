//! The Prometheus endpoint of `serve`: a WebTransport and a WebSocket client exchange events,
//! acks and a broadcast, resume and fail to resume, and a scrape over HTTP shows every metric
//! of docs/metrics.md with the counts they moved. The recorder is the process's, so every
//! check lives in this one test function.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure report.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use quicket::{
    AckSender, Client, ClientConfig, ConnectError, Data, Endpoints, FallbackOptions,
    ReconnectConfig, ReconnectEvent, RecoveryConfig, Rejection, Server, ServerConfig, Socket,
    TransportKind,
};
use quicket_testkit::within;
use tokio::sync::mpsc;

fn hall(config: ServerConfig) -> Server {
    Server::builder()
        .config(config)
        .auth(|handshake| async move {
            match handshake.auth::<String>() {
                Ok(word) if word == "nope" => Err(Rejection::new("no entry")),
                _ => Ok(()),
            }
        })
        .on_connect(|socket: Socket| async move {
            socket.join("hall").unwrap();
            socket.on(
                "say",
                |socket: Socket, Data(text): Data<String>, ack: AckSender| {
                    socket.to("hall").emit("said", &text).unwrap();
                    ack.send(()).unwrap();
                    async {}
                },
            );
            socket.on("note", |_: Data<String>| async {});
        })
        .build()
}

async fn serve(server: &Server) -> SocketAddr {
    let endpoints = Endpoints::default().ports(0, 0).metrics("/metrics");
    quicket::serve(server, endpoints).await.unwrap().http
}

/// A client that reconnects at once and reports each resume, and what it heard said.
async fn client(
    http: SocketAddr,
    options: FallbackOptions,
) -> (
    Client,
    mpsc::UnboundedReceiver<bool>,
    mpsc::UnboundedReceiver<String>,
) {
    let reconnect = ReconnectConfig::default().delay(Duration::from_millis(20));
    let config = ClientConfig::default().reconnect(Some(reconnect));
    let (resumed_tx, resumed) = mpsc::unbounded_channel();
    let (said_tx, said) = mpsc::unbounded_channel();
    let builder = Client::builder()
        .config(config)
        .on_reconnect(move |event| {
            if let ReconnectEvent::Reconnected { recovered, .. } = event {
                let _ = resumed_tx.send(*recovered);
            }
        })
        .on("said", move |Data(text): Data<String>| {
            let _ = said_tx.send(text);
            async {}
        });
    let url = format!("http://127.0.0.1:{}", http.port());
    let client = within("connect", quicket::connect_with(builder, &url, &options))
        .await
        .unwrap();
    (client, resumed, said)
}

/// The body of `GET /metrics`.
async fn scrape(http: SocketAddr) -> String {
    let response = support::get(http, "/metrics", "").await;
    assert_eq!(response.status, 200);
    let kind = response.header("content-type").unwrap_or_default();
    assert!(kind.contains("text/plain"), "{kind}");
    response.text()
}

/// The sum of the samples of `name` whose labels include `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| {
            let (series_name, series_labels) = series.split_once('{').unwrap_or((series, ""));
            series_name == name
                && labels
                    .iter()
                    .all(|(key, value)| series_labels.contains(&format!("{key}=\"{value}\"")))
        })
        .map(|(_, value)| value.parse::<f64>().unwrap())
        .sum()
}

/// The server metrics docs/metrics.md lists.
fn documented() -> Vec<String> {
    let doc = include_str!("../../docs/metrics.md");
    let server = doc.split("## Server").nth(1).unwrap();
    let server = server.split("\n## ").next().unwrap();
    server
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|line| line.split_once('`'))
        .map(|(name, _)| name.to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_shows_what_both_transports_did() {
    let server = hall(ServerConfig::default());
    let http = serve(&server).await;
    let ws_only = FallbackOptions::default().websocket_only();
    let (quic, mut quic_resumed, _) = client(http, FallbackOptions::default()).await;
    let (ws, _, mut ws_heard) = client(http, ws_only.clone()).await;
    assert_eq!(quic.transport(), TransportKind::WebTransport);
    assert_eq!(ws.transport(), TransportKind::WebSocket);

    let said = 3;
    for n in 0..said {
        within("say", quic.emit_with_ack::<()>("say", format!("line {n}")))
            .await
            .unwrap();
        assert_eq!(
            within("said", ws_heard.recv()).await.unwrap(),
            format!("line {n}")
        );
    }
    ws.emit("note", "one").unwrap();
    ws.emit("note", "two").unwrap();
    within("ack after notes", ws.emit_with_ack::<()>("say", "last"))
        .await
        .unwrap();
    let refused = quicket::connect_with(
        Client::builder().auth("nope"),
        &format!("http://127.0.0.1:{}", http.port()),
        &ws_only,
    )
    .await;
    assert!(matches!(refused, Err(ConnectError::Rejected { .. })));

    server.socket(quic.id()).unwrap().drop_connection();
    assert_eq!(within("resume", quic_resumed.recv()).await, Some(true));

    // A second server in the process shares the recorder; its sessions expire at once.
    let recovery = RecoveryConfig::default()
        .window(Duration::from_millis(1))
        .presence_grace(Duration::from_millis(1));
    let forgetful = ServerConfig::default().recovery(Some(recovery));
    let other = hall(forgetful);
    let other_http = serve(&other).await;
    let (late, mut late_resumed, _) = client(other_http, ws_only).await;
    other.socket(late.id()).unwrap().drop_connection();
    assert_eq!(
        within("a new session", late_resumed.recv()).await,
        Some(false)
    );

    let text = scrape(http).await;
    for name in documented() {
        assert!(
            text.contains(&format!("\n{name}")),
            "{name} is not in the scrape:\n{text}"
        );
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no description"
        );
    }
    let count = |name: &str, labels: &[(&str, &str)]| value(&text, name, labels);
    for transport in ["webtransport", "websocket"] {
        let on = [("transport", transport)];
        assert!(count("quicket_connections_accepted_total", &on) >= 1.0);
        assert!(count("quicket_handshakes_completed_total", &on) >= 1.0);
        assert!(count("quicket_connections_open", &on) >= 1.0);
    }
    let refusals = [("reason", "Unauthorized")];
    assert!(count("quicket_handshakes_refused_total", &refusals) >= 1.0);
    let acked = f64::from(said + 1);
    assert!(count("quicket_events_in_total", &[("class", "ack")]) >= acked);
    assert!(count("quicket_events_in_total", &[("class", "reliable")]) >= 2.0);
    assert!(count("quicket_event_bytes_in_total", &[]) > 0.0);
    assert!(count("quicket_acks_sent_total", &[("result", "ok")]) >= acked);
    assert!(count("quicket_events_out_total", &[("class", "reliable")]) >= f64::from(said));
    assert!(count("quicket_broadcast_recipients_count", &[]) >= acked);
    assert!(count("quicket_handler_duration_seconds_count", &[]) >= acked + 2.0);
    assert!(count("quicket_sessions_attached", &[]) >= 2.0);
    assert!(count("quicket_sessions_resumed_total", &[]) >= 1.0);
    let unknown = [("reason", "UnknownSession")];
    assert!(count("quicket_resumes_failed_total", &unknown) >= 1.0);
}
