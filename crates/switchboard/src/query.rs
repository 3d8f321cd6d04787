//! The query parameters of a handshake, parsed on first use.

use std::collections::HashMap;
use std::sync::Arc;

use once_cell::race::OnceBox;

use switchboard_proto::Str;

/// Where a query string is read from: a copy, or the engine session that keeps its request.
trait QueryText: Send + Sync {
    fn text(&self) -> &str;
}

impl QueryText for Str {
    fn text(&self) -> &str {
        self.as_str()
    }
}

impl QueryText for switchboard_engine::Socket {
    fn text(&self) -> &str {
        self.request().query().unwrap_or_default()
    }
}

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
#[derive(Clone)]
pub struct Query {
    /// The query string; a connection's handshakes read it from the engine session (no copy
    /// per socket).
    raw: Arc<dyn QueryText>,
    // Written once, on first read, from `raw` (two racing first reads may both parse; one
    // result is kept); boxed, so that an unread query holds one pointer, not a table.
    parsed: OnceBox<HashMap<String, String>>,
}

impl Query {
    /// The parameters of a query string (`a=1&b=x%20y`, without the `?`).
    ///
    /// ```
    /// use switchboard::Query;
    ///
    /// let q = Query::new("name=ana+lee&lang=en&lang=fr&flag");
    /// assert_eq!(q.get("name").map(String::as_str), Some("ana lee")); // `+` is a space
    /// assert_eq!(q.get("lang").map(String::as_str), Some("fr")); // the last value wins
    /// assert_eq!(q.get("flag").map(String::as_str), Some(""));
    /// assert_eq!(q.len(), 3);
    /// ```
    pub fn new(raw: &str) -> Self {
        Query { raw: Arc::new(Str::from(raw)), parsed: OnceBox::new() }
    }

    /// The query of an engine session's request, read in place.
    pub(crate) fn of_session(socket: Arc<switchboard_engine::Socket>) -> Self {
        Query { raw: socket, parsed: OnceBox::new() }
    }

    /// The query string as received (empty for parameters given as a map).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.emit("query", socket.handshake().query.raw())
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "EIO=4&transport=websocket");
    /// # Ok(()) }
    /// ```
    pub fn raw(&self) -> &str {
        self.raw.text()
    }
}

impl Default for Query {
    fn default() -> Self {
        Query::new("")
    }
}

impl From<HashMap<String, String>> for Query {
    fn from(map: HashMap<String, String>) -> Self {
        let parsed = OnceBox::new();
        // A new cell: it is empty, so the map goes in.
        let _ = parsed.set(Box::new(map));
        Query { raw: Arc::new(Str::new()), parsed }
    }
}

impl std::ops::Deref for Query {
    type Target = HashMap<String, String>;

    fn deref(&self) -> &HashMap<String, String> {
        self.parsed.get_or_init(|| Box::new(parse_query(self.raw.text())))
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
pub(crate) fn parse_query(q: &str) -> HashMap<String, String> {
    query_pairs(q).collect()
}

/// The decoded `key=value` pairs of `a=1&b=x%20y`, in their order.
pub(crate) fn query_pairs(q: &str) -> impl Iterator<Item = (String, String)> + '_ {
    q.split('&').filter(|kv| !kv.is_empty()).map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (decode(k), decode(v))
    })
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
        assert_eq!((from_map.raw(), Query::default().raw()), ("", ""));
        assert!(Query::default().is_empty());
    }
}
