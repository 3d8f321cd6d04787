//! The query parameters of a handshake, parsed on first use.

use std::collections::HashMap;
use std::sync::OnceLock;

use switchboard_proto::Str;

/// The query parameters of the handshake request (last value wins), parsed on first use: most
/// sockets never read them, and a parsed map costs every connection a hash table and a string
/// per key and value. Derefs to `HashMap<String, String>`.
///
/// ```
/// use switchboard::Query;
///
/// let q = Query::new("room=a&name=x%20y");
/// assert_eq!(q.get("room").map(String::as_str), Some("a"));
/// assert_eq!(q.get("name").map(String::as_str), Some("x y"));
/// assert_eq!(q.raw(), "room=a&name=x%20y");
/// ```
#[derive(Clone, Default)]
pub struct Query {
    raw: Str,
    // Written once, on first read, from `raw`; boxed, so that an unread query is small.
    #[allow(clippy::box_collection, reason = "an unread query holds one pointer, not a table")]
    parsed: OnceLock<Box<HashMap<String, String>>>,
}

impl Query {
    /// The parameters of a query string (`a=1&b=x%20y`, without the `?`).
    pub fn new(raw: &str) -> Self {
        Query { raw: Str::from(raw), parsed: OnceLock::new() }
    }

    /// The query string as received (empty for parameters given as a map).
    pub fn raw(&self) -> &str {
        self.raw.as_str()
    }
}

impl From<HashMap<String, String>> for Query {
    fn from(map: HashMap<String, String>) -> Self {
        Query { raw: Str::new(), parsed: OnceLock::from(Box::new(map)) }
    }
}

impl std::ops::Deref for Query {
    type Target = HashMap<String, String>;

    fn deref(&self) -> &HashMap<String, String> {
        self.parsed.get_or_init(|| Box::new(parse_query(self.raw.as_str())))
    }
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl PartialEq for Query {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl serde::Serialize for Query {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

/// Parses `a=1&b=x%20y` (percent-decoding, `+` as space).
fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = |j: usize| b.get(j).and_then(|c| char::from(*c).to_digit(16));
        match c {
            b'+' => out.push(b' '),
            b'%' => {
                if let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2)) {
                    out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                    i += 2;
                } else {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_on_first_read() {
        let q = Query::new("a=1&b=x%20y+z&c&d=%zz");
        assert_eq!(q.get("b").map(String::as_str), Some("x y z"));
        assert_eq!(q.get("c").map(String::as_str), Some(""));
        assert_eq!(q.get("d").map(String::as_str), Some("%zz"));
        let map: HashMap<String, String> = [("a".to_owned(), "1".to_owned())].into();
        let from_map = Query::from(map);
        assert_eq!(from_map.get("a").map(String::as_str), Some("1"));
        assert_eq!(Query::new("a=1"), from_map);
        assert_eq!(serde_json::to_value(&from_map).ok(), Some(serde_json::json!({"a": "1"})));
    }
}
