//! The pages: hand-written HTML, JS and CSS compiled into the binary, and the official
//! browser client served at `/socket.io/socket.io.js` from a file on disk.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const STYLE: &str = include_str!("../static/style.css");
/// The pages' shared script: connection state, sign-in, helpers.
const APP_SHELL: &str = include_str!("../static/app-shell.js");
/// The icon of every page.
const FAVICON: &str = include_str!("../static/favicon.svg");

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
const SVG: &str = "image/svg+xml";

fn page(content_type: &'static str, body: &'static str) -> impl IntoResponse + Clone {
    crate::apps::page::serve(content_type, body)
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The index page: the enabled apps, each with its title, summary and link.
pub(crate) fn index_page(apps: &[std::sync::Arc<dyn crate::apps::App>]) -> String {
    let mut cards = String::new();
    for app in apps {
        cards.push_str(&format!(
            "    <li><a class=\"app-card\" href=\"/{name}\"><strong>{title}</strong><span>{summary}</span></a></li>\n",
            name = escape(app.name()),
            title = escape(app.title()),
            summary = escape(app.summary()),
        ));
    }
    INDEX_TEMPLATE.replace("{{apps}}", &cards)
}

const INDEX_TEMPLATE: &str = include_str!("../static/index.html");

/// The routes of the pages. With `builtin_client`, `/socket.io/socket.io.js` is the built-in
/// client; with `msgpack_bundle`, it is that bundle (the official msgpack one); otherwise the
/// Socket.IO server answers it with the official bundle.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(
    builtin_client: bool,
    msgpack_bundle: Option<axum::body::Bytes>,
    index: String,
) -> Router<S> {
    let index = axum::body::Bytes::from(index);
    let router = Router::new()
        .route(
            "/",
            get(|| async move {
                ([(header::CONTENT_TYPE, HTML), (header::CACHE_CONTROL, "no-cache")], index)
            }),
        )
        .route("/style.css", get(|| async move { page("text/css; charset=utf-8", STYLE) }))
        .route("/app-shell.js", get(|| async move { page(JS, APP_SHELL) }))
        .route("/favicon.ico", get(|| async move { page(SVG, FAVICON) }))
        .route("/favicon.svg", get(|| async move { page(SVG, FAVICON) }))
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
