//! The handshake request's headers, kept as one block of bytes and read on demand.

use std::sync::OnceLock;

use http::{HeaderMap, HeaderName, HeaderValue};

/// The headers of a session's handshake request.
///
/// They are kept as one small block of bytes (`name:value` lines), not as a
/// [`HeaderMap`]: a map costs several allocations and most sessions never read their
/// headers. [`RequestHeaders::find`], [`RequestHeaders::has`] and [`RequestHeaders::lines`]
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
    /// line breaks, so the first `:` of a line ends its name.
    raw: Box<[u8]>,
    /// The map, once something asked for it; boxed so that an unused one costs a pointer.
    map: OnceLock<Box<HeaderMap>>,
}

impl RequestHeaders {
    /// The value of the first header called `name` (any case).
    pub fn find(&self, name: &str) -> Option<&[u8]> {
        // On the bytes: no line's name is checked to be UTF-8 for this.
        self.raw.split(|&b| b == b'\n').find_map(|line| {
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
        self.raw.split(|&b| b == b'\n').filter_map(|line| {
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
        let size = map.iter().map(|(n, v)| n.as_str().len() + v.len() + 2).sum();
        let mut raw = Vec::with_capacity(size);
        for (name, value) in map {
            raw.extend_from_slice(name.as_str().as_bytes());
            raw.push(b':');
            raw.extend_from_slice(value.as_bytes());
            raw.push(b'\n');
        }
        RequestHeaders { raw: raw.into_boxed_slice(), map: OnceLock::new() }
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
        self.raw == other.raw
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
    fn an_empty_block_is_an_empty_map() {
        let headers = RequestHeaders::default();
        assert_eq!(headers.lines().count(), 0);
        assert!(headers.is_empty());
    }
}
