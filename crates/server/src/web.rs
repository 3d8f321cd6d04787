//! The pages: hand-written HTML, JS and CSS compiled into the binary, and the official
//! browser client served at `/socket.io/socket.io.js` from a file on disk.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const INDEX: &str = include_str!("../static/index.html");
const CHAT_JS: &str = include_str!("../static/chat.js");
const NOTIFICATIONS: &str = include_str!("../static/notifications.html");
const NOTIFICATIONS_JS: &str = include_str!("../static/notifications.js");
const STYLE: &str = include_str!("../static/style.css");

/// The built-in client, served only when the official bundle is not available.
const MINI_CLIENT: &str = include_str!("../static/mini-client.js");

/// Where the socket.io-client `dist` directory is looked for when none is configured.
const CLIENT_DIST_RELATIVE: &str = "web/node_modules/socket.io-client/dist";

/// The official client's `dist` directory: the configured one, or the first found of the e2e
/// `node_modules` from the working directory and from the source tree.
pub(crate) fn find_client_dist(configured: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = configured {
        return Some(path.to_owned());
    }
    let source_tree =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(CLIENT_DIST_RELATIVE);
    [PathBuf::from(CLIENT_DIST_RELATIVE), source_tree]
        .into_iter()
        .find(|p| p.join("socket.io.min.js").is_file())
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

fn page(content_type: &'static str, body: &'static str) -> impl IntoResponse + Clone {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body)
}

/// The routes of the pages. With `builtin_client`, `/socket.io/socket.io.js` is the built-in
/// client; with `msgpack_bundle`, it is that bundle (the official msgpack one); otherwise the
/// Socket.IO server answers it with the official bundle.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(
    builtin_client: bool,
    msgpack_bundle: Option<axum::body::Bytes>,
) -> Router<S> {
    let router = Router::new()
        .route("/", get(|| async move { page(HTML, INDEX) }))
        .route("/chat.js", get(|| async move { page(JS, CHAT_JS) }))
        .route("/notifications", get(|| async move { page(HTML, NOTIFICATIONS) }))
        .route("/notifications.js", get(|| async move { page(JS, NOTIFICATIONS_JS) }))
        .route("/style.css", get(|| async move { page("text/css; charset=utf-8", STYLE) }))
        .route("/healthz", get(|| async { "ok" }));
    match msgpack_bundle {
        Some(bundle) => router.route(
            "/socket.io/socket.io.js",
            get(|| async move {
                ([(header::CONTENT_TYPE, JS), (header::CACHE_CONTROL, "no-cache")], bundle)
            }),
        ),
        None if builtin_client => {
            router.route("/socket.io/socket.io.js", get(|| async move { page(JS, MINI_CLIENT) }))
        }
        None => router,
    }
}
