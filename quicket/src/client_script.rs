//! The browser client, shipped inside this crate so that a Rust-only project serves it with no
//! npm step: [`serve`](crate::serve) mounts it at [`CLIENT_SCRIPT_PATH`] unless
//! [`Endpoints::client_script`](crate::Endpoints::client_script) is off.

use std::sync::OnceLock;

use quicket_ws::axum::Router;
use quicket_ws::axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use quicket_ws::axum::response::{IntoResponse, Response};
use quicket_ws::axum::routing::get;

/// Where [`serve`](crate::serve) serves [`CLIENT_SCRIPT`]; a page imports it with
/// `import { connect } from "/quicket/client.js"`.
pub const CLIENT_SCRIPT_PATH: &str = "/quicket/client.js";

/// The TypeScript client (`client-js/`, the npm package `quicket-client`) of this very
/// version, bundled as one ES module. `scripts/test` fails when it differs from the sources.
pub const CLIENT_SCRIPT: &str = include_str!("../assets/client.js");

/// `routes` with the client script at [`CLIENT_SCRIPT_PATH`].
pub(crate) fn mount(routes: Router) -> Router {
    routes.route(CLIENT_SCRIPT_PATH, get(client_script))
}

/// The script, revalidated on every load (`no-cache` with an `ETag`), so a page never runs a
/// client older than its server yet downloads it only when it changed.
async fn client_script(request: HeaderMap) -> Response {
    let etag = HeaderValue::from_static(etag());
    if request
        .get(header::IF_NONE_MATCH)
        .is_some_and(|wanted| wanted == etag)
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, etag),
    ];
    (headers, CLIENT_SCRIPT).into_response()
}

/// A strong validator of the script's bytes: 64-bit FNV-1a, quoted.
fn etag() -> &'static str {
    static ETAG: OnceLock<String> = OnceLock::new();
    ETAG.get_or_init(|| {
        let hash = CLIENT_SCRIPT
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
            });
        format!("\"{hash:016x}\"")
    })
}
