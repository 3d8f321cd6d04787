//! An app's page: its HTML at `/<name>` and its assets at `/<name>/<file>`, compiled in.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// A file of a page: its name under `/<app>/` and its text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asset {
    /// The file name (`chat.js`); its extension gives its type.
    pub(crate) file: &'static str,
    /// Its content (`include_str!`).
    pub(crate) body: &'static str,
}

/// The content type of a file name.
pub(crate) fn content_type(file: &str) -> &'static str {
    match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        _ => "text/plain; charset=utf-8",
    }
}

/// A compiled-in file as a response (revalidated on every load, so a new binary's page is
/// never mixed with an old script).
pub(crate) fn serve(content_type: &'static str, body: &'static str) -> impl IntoResponse + Clone {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body)
}

/// The routes of app `name`'s page: `html` at `/<name>` (and `/<name>/`), each asset at
/// `/<name>/<file>`.
pub(crate) fn page_routes(name: &str, html: &'static str, assets: &[Asset]) -> Router {
    let html_type = content_type("x.html");
    let mut router = Router::new()
        .route(&format!("/{name}"), get(move || async move { serve(html_type, html) }))
        .route(&format!("/{name}/"), get(move || async move { serve(html_type, html) }));
    for asset in assets {
        let (kind, body) = (content_type(asset.file), asset.body);
        router = router.route(
            &format!("/{name}/{}", asset.file),
            get(move || async move { serve(kind, body) }),
        );
    }
    router
}

#[cfg(test)]
mod tests {
    #[test]
    fn types_by_extension() {
        assert_eq!(super::content_type("a.js"), "text/javascript; charset=utf-8");
        assert_eq!(super::content_type("a.css"), "text/css; charset=utf-8");
        assert_eq!(super::content_type("README"), "text/plain; charset=utf-8");
    }
}
