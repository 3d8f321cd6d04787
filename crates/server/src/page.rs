//! The landing page: hand-written HTML, no scripts, no third-party bundles.

use axum::response::Html;

/// The page served at `/`.
const INDEX: &str = include_str!("index.html");

/// `GET /`.
pub(crate) async fn index() -> Html<&'static str> {
    Html(INDEX)
}
