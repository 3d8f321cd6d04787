//! The official browser client, served at `<path>socket.io.js` (Node's `serveClient`).

use std::collections::HashMap;
use std::path::Path;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

/// The files Node serves, as found in the `dist` directory of the npm `socket.io-client`
/// package.
const FILES: [&str; 8] = [
    "socket.io.js",
    "socket.io.js.map",
    "socket.io.min.js",
    "socket.io.min.js.map",
    "socket.io.esm.min.js",
    "socket.io.esm.min.js.map",
    "socket.io.msgpack.min.js",
    "socket.io.msgpack.min.js.map",
];

/// The client bundle, loaded once from a `dist` directory.
///
/// The files are never committed: the build tooling copies them from the npm
/// `socket.io-client` package, and [`crate::SocketIoConfig::client_dist`] points here.
#[derive(Debug, Clone)]
pub(crate) struct ClientBundle {
    files: HashMap<&'static str, Bytes>,
    etag: HeaderValue,
}

impl ClientBundle {
    /// Loads the files present in `dir`; the ETag is the package version (from
    /// `dir/../package.json`), or a hash of the files when it is unknown.
    pub(crate) fn load(dir: &Path) -> Option<ClientBundle> {
        let files: HashMap<&'static str, Bytes> = FILES
            .iter()
            .filter_map(|name| std::fs::read(dir.join(name)).ok().map(|b| (*name, Bytes::from(b))))
            .collect();
        if files.is_empty() {
            return None;
        }
        let version = dir
            .parent()
            .and_then(|p| std::fs::read(p.join("package.json")).ok())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.get("version").and_then(|v| v.as_str()).map(str::to_owned))
            .unwrap_or_else(|| format!("{:016x}", fnv(files.values())));
        let etag = HeaderValue::from_str(&format!("\"{version}\"")).ok()?;
        Some(ClientBundle { files, etag })
    }

    /// The response for `file` (a name under the server path), `None` if it is not a client
    /// file.
    pub(crate) fn respond(
        &self,
        file: &str,
        if_none_match: Option<&HeaderValue>,
    ) -> Option<Response<Full<Bytes>>> {
        let name = FILES.iter().find(|f| **f == file)?;
        let body = self.files.get(name)?;
        let mut res = Response::new(Full::new(Bytes::new()));
        let headers = res.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=0"));
        headers.insert(header::ETAG, self.etag.clone());
        if if_none_match == Some(&self.etag) {
            *res.status_mut() = StatusCode::NOT_MODIFIED;
            return Some(res);
        }
        let content_type = if name.ends_with(".map") {
            "application/json; charset=utf-8"
        } else {
            "application/javascript; charset=utf-8"
        };
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        *res.body_mut() = Full::new(body.clone());
        Some(res)
    }
}

/// FNV-1a over the files, in a stable order.
fn fnv<'a>(files: impl Iterator<Item = &'a Bytes>) -> u64 {
    let mut all: Vec<&Bytes> = files.collect();
    all.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in all.iter().flat_map(|f| f.iter()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_with_etag_and_304() {
        let dir = std::env::temp_dir().join(format!("sb-bundle-{}", std::process::id()));
        let dist = dir.join("dist");
        std::fs::create_dir_all(&dist).unwrap();
        std::fs::write(dist.join("socket.io.js"), "js").unwrap();
        std::fs::write(dist.join("socket.io.js.map"), "{}").unwrap();
        std::fs::write(dir.join("package.json"), r#"{"version":"4.8.1"}"#).unwrap();
        let bundle = ClientBundle::load(&dist).unwrap();
        let res = bundle.respond("socket.io.js", None).unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::ETAG], "\"4.8.1\"");
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/javascript; charset=utf-8");
        let map = bundle.respond("socket.io.js.map", None).unwrap();
        assert_eq!(map.headers()[header::CONTENT_TYPE], "application/json; charset=utf-8");
        let etag = HeaderValue::from_static("\"4.8.1\"");
        assert_eq!(
            bundle.respond("socket.io.js", Some(&etag)).unwrap().status(),
            StatusCode::NOT_MODIFIED
        );
        assert!(bundle.respond("socket.io.min.js", None).is_none(), "absent file");
        assert!(bundle.respond("other.js", None).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(ClientBundle::load(&dist).is_none());
    }
}
