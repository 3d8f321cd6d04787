//! The handshake request's headers, kept as one block of bytes and read on demand.

use std::sync::OnceLock;

use http::{HeaderMap, HeaderName, HeaderValue};

/// The headers of a session's handshake request.
///
/// They are kept as one small block of bytes (`name:value` lines), not as a
/// [`HeaderMap`]: a map costs several allocations and most sessions never read their
/// headers. A session's block starts with its request's path and query (see
/// [`RequestInfo::uri`](crate::RequestInfo::uri)): one allocation for both. [`RequestHeaders::find`], [`RequestHeaders::has`] and [`RequestHeaders::lines`]
/// read the bytes; the type also derefs to a [`HeaderMap`], built on first use and then kept.
///
/// ```
/// use switchboard_engine::RequestHeaders;
///
/// let mut map = http::HeaderMap::new();
/// map.insert("x-user", "ana".parse().unwrap());
/// map.append("accept", "a".parse().unwrap());
/// map.append("accept", "b".parse().unwrap());
/// let headers = RequestHeaders::from(&map);
/// assert_eq!(headers.find("X-User"), Some(&b"ana"[..]));
/// assert!(!headers.has("origin"));
/// assert_eq!(headers.lines().count(), 3);
/// // Through the map, built on first use:
/// assert_eq!(headers.get_all("accept").iter().count(), 2);
/// assert_eq!(*headers, map);
/// ```
#[derive(Default)]
pub struct RequestHeaders {
    /// `name:value\n` for every header in order; names are lower case and values hold no
    /// line breaks, so the first `:` of a line ends its name. Before them, a session's
    /// request URI and `\n`: a line that starts with `/`, which no header name does.
    raw: Box<[u8]>,
    /// The map, once something asked for it; boxed so that an unused one costs a pointer.
    map: OnceLock<Box<HeaderMap>>,
}

impl RequestHeaders {
    /// The block of a session's request: its path and query `uri` (which must start with `/`
    /// and hold no line break; else it is left out), then the headers of `map`.
    pub(crate) fn with_uri(uri: &str, map: &HeaderMap) -> Self {
        let uri = if uri.starts_with('/') && !uri.contains('\n') { uri } else { "" };
        let line = if uri.is_empty() { 0 } else { uri.len() + 1 };
        let size = line + map.iter().map(|(n, v)| n.as_str().len() + v.len() + 2).sum::<usize>();
        let mut raw = Vec::with_capacity(size);
        if !uri.is_empty() {
            raw.extend_from_slice(uri.as_bytes());
            raw.push(b'\n');
        }
        for (name, value) in map {
            raw.extend_from_slice(name.as_str().as_bytes());
            raw.push(b':');
            raw.extend_from_slice(value.as_bytes());
            raw.push(b'\n');
        }
        RequestHeaders { raw: raw.into_boxed_slice(), map: OnceLock::new() }
    }

    /// The request URI kept in the block, if any.
    pub(crate) fn uri(&self) -> Option<&str> {
        if !self.raw.starts_with(b"/") {
            return None;
        }
        let end = self.raw.iter().position(|&b| b == b'\n').unwrap_or(self.raw.len());
        std::str::from_utf8(self.raw.get(..end)?).ok()
    }

    /// The header lines, after the URI if the block has one.
    fn header_bytes(&self) -> &[u8] {
        match self.uri() {
            Some(uri) => self.raw.get(uri.len() + 1..).unwrap_or_default(),
            None => &self.raw,
        }
    }

    /// The value of the first header called `name` (any case).
    pub fn find(&self, name: &str) -> Option<&[u8]> {
        // On the bytes: no line's name is checked to be UTF-8 for this.
        self.header_bytes().split(|&b| b == b'\n').find_map(|line| {
            let value = line.get(name.len()..)?.strip_prefix(b":")?;
            let line_name = line.get(..name.len())?;
            line_name.eq_ignore_ascii_case(name.as_bytes()).then_some(value)
        })
    }

    /// Whether a header called `name` (any case) is there.
    pub fn has(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// Every header in arrival order, as (lower-case name, value).
    pub fn lines(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.header_bytes().split(|&b| b == b'\n').filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let (name, value) = line.split_at(colon);
            Some((std::str::from_utf8(name).ok()?, value.get(1..).unwrap_or_default()))
        })
    }

    fn build(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.lines().count());
        for (name, value) in self.lines() {
            // Both were a valid name and value when the block was made.
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value))
            {
                map.append(name, value);
            }
        }
        map
    }
}

impl From<&HeaderMap> for RequestHeaders {
    fn from(map: &HeaderMap) -> Self {
        RequestHeaders::with_uri("", map)
    }
}

impl std::ops::Deref for RequestHeaders {
    type Target = HeaderMap;

    fn deref(&self) -> &HeaderMap {
        self.map.get_or_init(|| Box::new(self.build()))
    }
}

impl Clone for RequestHeaders {
    fn clone(&self) -> Self {
        RequestHeaders { raw: self.raw.clone(), map: OnceLock::new() }
    }
}

impl PartialEq for RequestHeaders {
    fn eq(&self, other: &Self) -> bool {
        self.header_bytes() == other.header_bytes()
    }
}

impl std::fmt::Debug for RequestHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.lines().map(|(n, v)| (n, String::from_utf8_lossy(v)))).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_with_colons_and_empty_values_survive() {
        let mut map = HeaderMap::new();
        map.insert(http::header::HOST, "127.0.0.1:3000".parse().unwrap());
        map.insert("x-empty", "".parse().unwrap());
        map.insert("x-bytes", HeaderValue::from_bytes(b"caf\xc3\xa9\tok").unwrap());
        let headers = RequestHeaders::from(&map);
        assert_eq!(headers.find("host"), Some(&b"127.0.0.1:3000"[..]));
        assert_eq!(headers.find("x-empty"), Some(&b""[..]));
        assert!(headers.has("X-EMPTY"));
        assert_eq!(*headers, map);
        assert_eq!(headers.clone(), headers);
        assert!(format!("{headers:?}").contains("127.0.0.1:3000"));
    }

    #[test]
    fn a_session_block_keeps_its_uri_apart_from_its_headers() {
        let mut map = HeaderMap::new();
        map.insert(http::header::HOST, "127.0.0.1:3000".parse().unwrap());
        let headers = RequestHeaders::with_uri("/engine.io/?EIO=4&transport=websocket", &map);
        assert_eq!(headers.uri(), Some("/engine.io/?EIO=4&transport=websocket"));
        assert_eq!(headers.lines().collect::<Vec<_>>(), [("host", &b"127.0.0.1:3000"[..])]);
        assert_eq!(headers.find("host"), Some(&b"127.0.0.1:3000"[..]));
        assert_eq!(*headers, map);
        assert_eq!(headers, RequestHeaders::from(&map));
        assert!(!format!("{headers:?}").contains("engine.io"));
        // Without headers, and with a URI that cannot be kept.
        let bare = RequestHeaders::with_uri("/", &HeaderMap::new());
        assert_eq!((bare.uri(), bare.lines().count()), (Some("/"), 0));
        let odd = RequestHeaders::with_uri("*", &map);
        assert_eq!((odd.uri(), odd.lines().count()), (None, 1));
        assert_eq!(RequestHeaders::from(&map).uri(), None);
    }

    #[test]
    fn an_empty_block_is_an_empty_map() {
        let headers = RequestHeaders::default();
        assert_eq!(headers.lines().count(), 0);
        assert!(headers.is_empty());
    }
}
