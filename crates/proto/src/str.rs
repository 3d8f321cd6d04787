//! A reference-counted UTF-8 string backed by [`Bytes`].

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

/// An immutable UTF-8 string backed by [`Bytes`]: cloning it is a reference-count increment.
///
/// Text frames are carried as `Str` so that a packet encoded once can be handed to many
/// connections without copying.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Str(Bytes);

impl Str {
    /// An empty string.
    pub const fn new() -> Self {
        Str(Bytes::new())
    }

    /// Wraps `bytes` after checking that they are UTF-8.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Str(bytes))
    }

    /// A `'static` string, without allocation.
    pub const fn from_static(s: &'static str) -> Self {
        Str(Bytes::from_static(s.as_bytes()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // The constructors only ever store valid UTF-8, and slicing goes through `slice`,
        // which checks char boundaries, so this cannot fail; fall back to "" to stay panic-free.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Gives back the underlying bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The sub-string starting at byte `start`, sharing the same buffer.
    ///
    /// Returns `None` if `start` is out of range or not on a character boundary.
    pub fn slice_from(&self, start: usize) -> Option<Str> {
        if self.as_str().is_char_boundary(start) { Some(Str(self.0.slice(start..))) } else { None }
    }

    /// The sub-string of bytes `start..end`, sharing the same buffer.
    ///
    /// Returns `None` if the range is out of bounds or not on character boundaries.
    pub fn slice(&self, start: usize, end: usize) -> Option<Str> {
        let s = self.as_str();
        if start <= end && s.is_char_boundary(start) && s.is_char_boundary(end) {
            Some(Str(self.0.slice(start..end)))
        } else {
            None
        }
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
        Str(Bytes::from(s))
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Self {
        Str(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<Str> for Bytes {
    fn from(s: Str) -> Bytes {
        s.0
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
