//! `--admin-ui`: the official Admin UI (`@socket.io/admin-ui`) served at `/admin/` from the
//! npm package's `ui/dist`, and its Socket.IO namespace `/admin` (`switchboard::admin`).

use std::path::{Component, Path, PathBuf};

use anyhow::bail;
use axum::Router;
use axum::extract::Path as UrlPath;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use switchboard::SocketIo;
use switchboard::admin::{Admin, AdminAuth, AdminOptions};

/// Where the UI's files are looked for when no directory is configured.
const DIST_RELATIVE: &str = "web/node_modules/@socket.io/admin-ui/ui/dist";

/// The Admin UI's resolved options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AdminUiConfig {
    pub(crate) auth: AdminAuth,
    pub(crate) readonly: bool,
    pub(crate) dist: Option<PathBuf>,
}

impl AdminUiConfig {
    /// `None` unless `enabled`; a username without a hash (or the reverse) or a hash that is
    /// not bcrypt is an error.
    pub(crate) fn resolve(
        enabled: bool,
        username: Option<String>,
        hash: Option<String>,
        readonly: bool,
        dist: Option<PathBuf>,
    ) -> anyhow::Result<Option<Self>> {
        if !enabled {
            return Ok(None);
        }
        let username = username.filter(|u| !u.is_empty());
        let hash = hash.filter(|h| !h.is_empty());
        let auth = match (username, hash) {
            (Some(user), Some(hash)) => match AdminAuth::basic(user, hash) {
                Ok(auth) => auth,
                Err(e) => bail!("--admin-password-hash: {e}"),
            },
            (None, None) => AdminAuth::LoopbackOnly,
            (Some(_), None) => bail!("--admin-username needs --admin-password-hash"),
            (None, Some(_)) => bail!("--admin-password-hash needs --admin-username"),
        };
        Ok(Some(AdminUiConfig { auth, readonly, dist }))
    }
}

/// Opens the `/admin` namespace on `io`.
pub(crate) fn attach(io: &SocketIo, config: &AdminUiConfig) -> anyhow::Result<()> {
    let mut options = AdminOptions::default();
    options.auth = config.auth.clone();
    options.readonly = config.readonly;
    let admin = Admin::attach(io, options)?;
    match &config.auth {
        AdminAuth::LoopbackOnly => tracing::warn!(
            "admin UI without credentials (--admin-username, --admin-password-hash): only clients on 127.0.0.1 and ::1 may connect to /admin"
        ),
        _ => tracing::info!("admin UI with basic auth"),
    }
    tracing::info!(
        server_id = admin.server_id(),
        readonly = config.readonly,
        "admin namespace /admin open"
    );
    Ok(())
}

/// The UI's `dist` directory: the configured one, or the first found of the working
/// directory's and the source tree's `web/node_modules`; `None` if it has no `index.html`.
fn find_dist(configured: Option<&Path>) -> Option<PathBuf> {
    let candidates = match configured {
        Some(path) => vec![path.to_owned()],
        None => {
            let source_tree =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(DIST_RELATIVE);
            vec![PathBuf::from(DIST_RELATIVE), source_tree]
        }
    };
    candidates.into_iter().find(|p| p.join("index.html").is_file())
}

const MISSING: &str = "<!doctype html><meta charset=utf-8><title>Admin UI not installed</title>
<h1>Admin UI not installed</h1>
<p>The Admin UI's files come from the npm package <code>@socket.io/admin-ui</code>. Install it with
<code>(cd web &amp;&amp; npm ci)</code> in the source tree (or <code>cargo xtask run</code>), or give its
<code>ui/dist</code> directory with <code>--admin-ui-dist DIR</code>, then restart the server.</p>
";

/// `/admin` (redirected to `/admin/`, so that the UI's relative URLs resolve), `/admin/` and
/// the files under it.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(config: &AdminUiConfig) -> Router<S> {
    let dist = find_dist(config.dist.as_deref());
    match &dist {
        Some(dir) => tracing::info!(dir = %dir.display(), "serving the Admin UI at /admin/"),
        None => tracing::warn!(
            "Admin UI files not found (install web/ with npm ci): /admin/ answers 404"
        ),
    }
    let (index_dir, files_dir) = (dist.clone(), dist);
    Router::new()
        .route("/admin", get(|| async { Redirect::permanent("/admin/") }))
        .route("/admin/", get(move || serve(index_dir.clone(), "index.html".to_owned())))
        .route(
            "/admin/{*path}",
            get(move |UrlPath(path): UrlPath<String>| serve(files_dir.clone(), path)),
        )
}

/// One file of the UI, or 404.
async fn serve(dist: Option<PathBuf>, path: String) -> Response {
    let Some(dist) = dist else {
        let headers = [(header::CONTENT_TYPE, "text/html; charset=utf-8")];
        return (StatusCode::NOT_FOUND, headers, MISSING).into_response();
    };
    let relative = Path::new(&path);
    // Only plain names below the directory: no `..`, no absolute path.
    if path.is_empty() || !relative.components().all(|c| matches!(c, Component::Normal(_))) {
        return StatusCode::NOT_FOUND.into_response();
    }
    match tokio::fs::read(dist.join(relative)).await {
        Ok(body) => {
            let headers =
                [(header::CONTENT_TYPE, mime(&path)), (header::CACHE_CONTROL, "no-cache")];
            (headers, body).into_response()
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

fn mime(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$2y$04$951P/jPC8iuabTofwYcnluobpoqnTkkzhg7zjQgO6JAEvGtF/LPyW";

    #[test]
    fn off_unless_asked() {
        assert_eq!(
            AdminUiConfig::resolve(false, None, Some("x".into()), true, None).unwrap(),
            None
        );
    }

    #[test]
    fn no_credentials_means_loopback_only() {
        let c = AdminUiConfig::resolve(true, None, None, false, None).unwrap().unwrap();
        assert_eq!(c.auth, AdminAuth::LoopbackOnly);
    }

    #[test]
    fn credentials_need_both_parts_and_a_bcrypt_hash() {
        let c = AdminUiConfig::resolve(true, Some("ops".into()), Some(HASH.into()), true, None);
        let c = c.unwrap().unwrap();
        assert!(matches!(c.auth, AdminAuth::Basic { ref username, .. } if username == "ops"));
        assert!(c.readonly);
        let bad =
            AdminUiConfig::resolve(true, Some("ops".into()), Some("secret".into()), false, None);
        let message = bad.unwrap_err().to_string();
        assert!(message.starts_with("--admin-password-hash: "), "{message}");
        assert!(!message.contains('\n'));
        assert!(AdminUiConfig::resolve(true, Some("ops".into()), None, false, None).is_err());
        assert!(AdminUiConfig::resolve(true, None, Some(HASH.into()), false, None).is_err());
    }

    #[test]
    fn types_by_extension() {
        assert_eq!(mime("js/app.0d7d7845.js"), "text/javascript; charset=utf-8");
        assert_eq!(mime("img/logo-dark.3727fec5.svg"), "image/svg+xml");
        assert_eq!(mime("favicon.png"), "image/png");
    }
}
