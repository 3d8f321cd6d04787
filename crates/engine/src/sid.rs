//! Session ids.

use std::borrow::Borrow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use switchboard_proto::Str;

/// A session id: 20 URL-safe base64 characters from 15 random bytes, as Node's `base64id`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sid(Str);

impl Sid {
    /// A new random id.
    pub(crate) fn generate() -> Self {
        let bytes: [u8; 15] = rand::random();
        Sid(Str::from(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Borrow<str> for Sid {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

// Hashes as `str` does, so that maps keyed by `Sid` can be searched with a `&str`.
impl std::hash::Hash for Sid {
    fn hash<S: std::hash::Hasher>(&self, state: &mut S) {
        self.as_str().hash(state);
    }
}

impl std::fmt::Display for Sid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_20_url_safe_chars_and_distinct() {
        let a = Sid::generate();
        let b = Sid::generate();
        assert_eq!(a.as_str().len(), 20);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a, b);
    }
}
