//! The pages: hand-written HTML, JS and CSS compiled into the binary, and the official
//! browser client served at `/socket.io/socket.io.js` from a file on disk.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

const INDEX: &str = include_str!("../static/index.html");
const CHAT_JS: &str = include_str!("../static/chat.js");
const NOTIFICATIONS: &str = include_str!("../static/notifications.html");
const NOTIFICATIONS_JS: &str = include_str!("../static/notifications.js");
const STYLE: &str = include_str!("../static/style.css");

/// Where the socket.io-client bundle is looked for when no `--client-js` is given.
const CLIENT_JS_RELATIVE: &str = "tests/e2e/node_modules/socket.io-client/dist/socket.io.min.js";

/// The socket.io-client browser bundle: the configured file, or the first found of the e2e
/// `node_modules` from the working directory and from the source tree.
pub(crate) fn find_client_js(configured: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = configured {
        return Some(path.to_owned());
    }
    let source_tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(CLIENT_JS_RELATIVE);
    [PathBuf::from(CLIENT_JS_RELATIVE), source_tree].into_iter().find(|p| p.is_file())
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

fn page(content_type: &'static str, body: &'static str) -> impl IntoResponse + Clone {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body)
}

/// The routes of the pages. `client_js` is the bundle's content, if found.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(client_js: Option<Bytes>) -> Router<S> {
    let client = move || {
        let client_js = client_js.clone();
        async move {
            match client_js {
                Some(body) => (StatusCode::OK, [(header::CONTENT_TYPE, JS)], body).into_response(),
                None => (
                    StatusCode::NOT_FOUND,
                    "socket.io-client is not available: run `npm install` in tests/e2e or pass --client-js",
                )
                    .into_response(),
            }
        }
    };
    Router::new()
        .route("/", get(|| async move { page(HTML, INDEX) }))
        .route("/chat.js", get(|| async move { page(JS, CHAT_JS) }))
        .route("/notifications", get(|| async move { page(HTML, NOTIFICATIONS) }))
        .route("/notifications.js", get(|| async move { page(JS, NOTIFICATIONS_JS) }))
        .route("/style.css", get(|| async move { page("text/css; charset=utf-8", STYLE) }))
        .route("/socket.io/socket.io.js", get(client.clone()))
        .route("/socket.io/socket.io.min.js", get(client))
        .route("/healthz", get(|| async { "ok" }))
}
