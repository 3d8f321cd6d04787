//! A reference-counted UTF-8 string backed by [`Bytes`].

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;
use bytestring::ByteString;

/// An immutable UTF-8 string backed by [`Bytes`]: cloning it is a reference-count increment.
///
/// Text frames are carried as `Str` so that a packet encoded once can be handed to many
/// connections without copying. UTF-8 is checked once, when a `Str` is made; reading the text
/// afterwards costs nothing (the storage is `bytestring`'s `ByteString`).
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Str(ByteString);

impl Str {
    /// An empty string.
    pub const fn new() -> Self {
        Str(ByteString::new())
    }

    /// Wraps `bytes` after checking that they are UTF-8.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        ByteString::try_from(bytes).map(Str)
    }

    /// A `'static` string, without allocation.
    pub const fn from_static(s: &'static str) -> Self {
        Str(ByteString::from_static(s))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_bytes()
    }

    /// Gives back the underlying bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0.into_bytes()
    }

    /// The sub-string starting at byte `start`, sharing the same buffer.
    ///
    /// Returns `None` if `start` is out of range or not on a character boundary.
    pub fn slice_from(&self, start: usize) -> Option<Str> {
        self.as_str().get(start..).map(|sub| Str(self.0.slice_ref(sub)))
    }

    /// The sub-string of bytes `start..end`, sharing the same buffer.
    ///
    /// Returns `None` if the range is out of bounds or not on character boundaries.
    pub fn slice(&self, start: usize, end: usize) -> Option<Str> {
        self.as_str().get(start..end).map(|sub| Str(self.0.slice_ref(sub)))
    }
}

impl Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for Str {
    fn from(s: String) -> Self {
        Str(ByteString::from(s))
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Self {
        Str(ByteString::from(s))
    }
}

impl From<Str> for Bytes {
    fn from(s: Str) -> Bytes {
        s.0.into_bytes()
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_invalid_utf8() {
        assert!(Str::from_utf8(Bytes::from_static(&[0xff, 0xfe])).is_err());
        assert_eq!(Str::from_utf8(Bytes::from_static(b"ok")).ok(), Some(Str::from("ok")));
    }

    #[test]
    fn slices_on_char_boundaries_only() {
        let s = Str::from("é4x");
        assert_eq!(s.slice_from(1), None);
        assert_eq!(s.slice_from(2).as_deref(), Some("4x"));
        assert_eq!(s.slice(2, 3).as_deref(), Some("4"));
        assert_eq!(s.slice(3, 2), None);
        assert_eq!(s.slice_from(9), None);
    }
}
