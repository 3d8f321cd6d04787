//! The page's `yjs`, served from `web/node_modules` (installed with `npm install` in `web/`,
//! as the Socket.IO client is; never committed, no CDN): `/editor/vendor/yjs.mjs` and the
//! ES modules of `lib0` it imports, at `/editor/vendor/lib0/<file>` (the page's import map
//! points `lib0/` there; a name without `.js` is the file with it, as lib0's exports map
//! them for browsers).

use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// `web/node_modules`, relative to the working directory or the source tree.
const MODULES_RELATIVE: &str = "web/node_modules";

/// The `node_modules` that holds `yjs`: from the working directory, else from the source
/// tree (as the Socket.IO client's `dist` is found).
pub(crate) fn find() -> Option<PathBuf> {
    let source_tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(MODULES_RELATIVE);
    [PathBuf::from(MODULES_RELATIVE), source_tree]
        .into_iter()
        .find(|p| p.join("yjs/dist/yjs.mjs").is_file() && p.join("lib0/package.json").is_file())
}

/// The vendor routes.
pub(crate) fn routes() -> Router {
    Router::new()
        .route("/editor/vendor/yjs.mjs", get(yjs))
        .route("/editor/vendor/lib0/{*file}", get(lib0))
}

async fn yjs() -> Response {
    match find() {
        Some(dir) => serve(dir.join("yjs/dist/yjs.mjs")).await,
        None => missing(),
    }
}

async fn lib0(UrlPath(file): UrlPath<String>) -> Response {
    let Some(relative) = module_path(&file) else {
        return (StatusCode::NOT_FOUND, "no such module").into_response();
    };
    match find() {
        Some(dir) => serve(dir.join("lib0").join(relative)).await,
        None => missing(),
    }
}

/// The file of a `lib0` module name: path segments of `[a-zA-Z0-9_.-]`, none starting with a
/// dot, ending in `.js` (added when absent).
fn module_path(name: &str) -> Option<String> {
    let segments: Vec<&str> = name.split('/').collect();
    let valid = |s: &&str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    };
    if segments.len() > 3 || !segments.iter().all(valid) {
        return None;
    }
    let joined = segments.join("/");
    Some(if joined.ends_with(".js") { joined } else { format!("{joined}.js") })
}

async fn serve(path: PathBuf) -> Response {
    match tokio::fs::read(&path).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "no such module").into_response(),
    }
}

fn missing() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "the yjs package is not installed: run `npm install` in web/")
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::module_path;

    #[test]
    fn module_names() {
        assert_eq!(module_path("encoding").as_deref(), Some("encoding.js"));
        assert_eq!(module_path("prng/Xorshift32.js").as_deref(), Some("prng/Xorshift32.js"));
        assert_eq!(module_path("../secret"), None);
        assert_eq!(module_path("a//b"), None);
        assert_eq!(module_path(".hidden"), None);
    }
}
