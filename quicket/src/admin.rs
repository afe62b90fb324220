//! A read-only admin view: a JSON API of what a node serves (connections with their transport
//! and path statistics, rooms and their members, presence, sessions waiting for a resume) and a one-page
//! dashboard over it. Off unless [`Endpoints::admin`](crate::Endpoints::admin) turns it on,
//! and every API request needs the bearer token.

use std::fmt;
use std::sync::Arc;

use quicket_core::{Server, Socket, TransportKind};
use quicket_ws::axum::extract::{Path, State};
use quicket_ws::axum::http::{HeaderMap, StatusCode, header};
use quicket_ws::axum::response::{Html, IntoResponse, Response};
use quicket_ws::axum::routing::get;
use quicket_ws::axum::{Json, Router};
use serde_json::{Value, json};

/// The shortest token accepted: a guessable token would open the view to anyone.
pub const MIN_TOKEN_LEN: usize = 16;

/// The most sockets one `sockets` response lists.
const MAX_LISTED: usize = 1_000;

/// What the admin view serves, and to whom.
#[derive(Clone)]
#[non_exhaustive]
pub struct AdminConfig {
    /// Where the dashboard is served; the API is under `<path>/api/`. Default `/quicket/admin`.
    pub path: String,
    /// The bearer token every API request must carry (`Authorization: Bearer <token>`), at
    /// least [`MIN_TOKEN_LEN`] bytes. The dashboard page asks for it.
    pub token: String,
    /// Extra facts about the node for the overview, e.g. the Redis adapter's health.
    pub node: Option<Arc<dyn Fn() -> Value + Send + Sync>>,
}

impl AdminConfig {
    /// The admin view behind `token`.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            path: "/quicket/admin".into(),
            token: token.into(),
            node: None,
        }
    }

    /// Sets [`AdminConfig::path`].
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Adds facts about the node to the overview, asked on every request.
    pub fn node<F>(mut self, facts: F) -> Self
    where
        F: Fn() -> Value + Send + Sync + 'static,
    {
        self.node = Some(Arc::new(facts));
        self
    }
}

impl fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminConfig")
            .field("path", &self.path)
            .field("token", &"…")
            .field("node", &self.node.is_some())
            .finish()
    }
}

/// Why the admin view was not served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The token is shorter than [`MIN_TOKEN_LEN`].
    #[error("the admin token must be at least {MIN_TOKEN_LEN} bytes")]
    WeakToken,
    /// The path does not start with `/`.
    #[error("the admin path must start with /: {0}")]
    BadPath(String),
}

#[derive(Clone)]
struct Admin {
    server: Server,
    config: AdminConfig,
}

/// `routes` with the dashboard and its API.
pub(crate) fn mount(
    routes: Router,
    server: &Server,
    config: AdminConfig,
) -> Result<Router, AdminError> {
    if config.token.len() < MIN_TOKEN_LEN {
        return Err(AdminError::WeakToken);
    }
    if !config.path.starts_with('/') {
        return Err(AdminError::BadPath(config.path));
    }
    let base = config.path.trim_end_matches('/').to_owned();
    let admin = Admin {
        server: server.clone(),
        config,
    };
    let api = Router::new()
        .route(&format!("{base}/api/overview"), get(overview))
        .route(&format!("{base}/api/sockets"), get(sockets))
        .route(&format!("{base}/api/rooms"), get(rooms))
        .route(&format!("{base}/api/rooms/{{room}}"), get(room))
        .with_state(admin);
    Ok(routes.route(&base, get(dashboard)).merge(api))
}

async fn dashboard() -> Response {
    let headers = [(header::CACHE_CONTROL, "no-store")];
    (headers, Html(include_str!("../assets/admin.html"))).into_response()
}

/// Whether the request carries the token: checked before any work is done.
fn allowed(admin: &Admin, request: &HeaderMap) -> bool {
    let presented = request
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    same(presented.as_bytes(), admin.config.token.as_bytes())
}

fn unauthorized() -> Response {
    let challenge = [(header::WWW_AUTHENTICATE, "Bearer")];
    (StatusCode::UNAUTHORIZED, challenge).into_response()
}

fn reply(body: Value) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// Compares without stopping at the first difference, so timing does not reveal the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

async fn overview(State(admin): State<Admin>, request: HeaderMap) -> Response {
    if !allowed(&admin, &request) {
        return unauthorized();
    }
    let sockets = admin.server.sockets().await;
    let count = |kind: TransportKind| {
        sockets
            .iter()
            .filter(|socket| socket.connected() && socket.transport() == kind)
            .count()
    };
    reply(json!({
        "connections": admin.server.connection_count(),
        "byTransport": {
            "webtransport": count(TransportKind::WebTransport),
            "websocket": count(TransportKind::WebSocket),
            "memory": count(TransportKind::Memory),
        },
        "waitingForResume": admin.server.detached_count(),
        "waitingBytes": admin.server.detached_bytes(),
        "rooms": admin.server.rooms().await.len(),
        "node": admin.config.node.as_ref().map(|facts| facts()),
    }))
}

async fn sockets(State(admin): State<Admin>, request: HeaderMap) -> Response {
    if !allowed(&admin, &request) {
        return unauthorized();
    }
    let sockets = admin.server.sockets().await;
    let listed: Vec<Value> = sockets.iter().take(MAX_LISTED).map(describe).collect();
    reply(json!({ "total": sockets.len(), "sockets": listed }))
}

fn describe(socket: &Socket) -> Value {
    let connection = socket.handshake().connection();
    let (client, version) = socket.handshake().client();
    json!({
        "id": socket.id().to_string(),
        "transport": socket.transport().to_string(),
        "connected": socket.connected(),
        "peer": connection.peer_addr.map(|addr| addr.to_string()),
        "client": format!("{client} {version}").trim(),
        "rooms": socket.rooms().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "path": socket.path_stats().map(|path| json!({
            "rttMs": path.rtt.map(|rtt| rtt.as_secs_f64() * 1e3),
            "congestionWindow": path.congestion_window,
            "sentPackets": path.sent_packets,
            "lostPackets": path.lost_packets,
            "mtu": path.mtu,
        })),
    })
}

async fn rooms(State(admin): State<Admin>, request: HeaderMap) -> Response {
    if !allowed(&admin, &request) {
        return unauthorized();
    }
    let mut listed = Vec::new();
    for room in admin.server.rooms().await {
        let members = admin.server.to(room.clone()).sockets().await.len();
        listed.push(json!({ "room": room.to_string(), "members": members }));
    }
    reply(json!({ "rooms": listed }))
}

async fn room(
    State(admin): State<Admin>,
    Path(name): Path<String>,
    request: HeaderMap,
) -> Response {
    if !allowed(&admin, &request) {
        return unauthorized();
    }
    let members = admin.server.to(name.clone()).sockets().await;
    let presence = admin.server.presence(&name).await;
    reply(json!({
        "room": name,
        "members": members.iter().map(|socket| socket.id().to_string()).collect::<Vec<_>>(),
        "presence": presence
            .iter()
            .map(|key| json!({ "key": key.key, "connections": key.metas.len() }))
            .collect::<Vec<_>>(),
    }))
}
