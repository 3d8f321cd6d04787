//! The CONNECT payload of a handshake, kept small when empty.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// The CONNECT payload of a socket (`{}` if the client sent none), as JSON: derefs to a
/// [`serde_json::Value`].
///
/// Most clients send none: an empty payload is a null pointer, not the 72 bytes of a JSON
/// value in every socket; a payload is kept in an allocation of its own.
///
/// ```
/// use serde_json::json;
/// use switchboard::Auth;
///
/// let auth = Auth::from(json!({"token": "t"}));
/// assert_eq!(auth["token"], "t");
/// assert_eq!(auth.get("user"), None);
/// assert_eq!(auth, json!({"token": "t"}));
/// assert_eq!(serde_json::to_string(&auth)?, r#"{"token":"t"}"#);
///
/// // None sent: an empty object.
/// let mut none = Auth::default();
/// assert!(none.is_object() && none.as_object().is_some_and(|m| m.is_empty()));
/// assert_eq!(none.to_string(), "{}");
/// // It can be written to, as any JSON value.
/// none["seen"] = json!(true);
/// assert_eq!(none.into_value(), json!({"seen": true}));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Auth(Option<Box<Value>>);

/// The empty object an empty payload reads as.
fn empty() -> &'static Value {
    static EMPTY: OnceLock<Value> = OnceLock::new();
    EMPTY.get_or_init(|| Value::Object(Map::new()))
}

impl Auth {
    /// The payload as a JSON value.
    ///
    /// ```
    /// use switchboard::Auth;
    ///
    /// assert_eq!(Auth::default().into_value(), serde_json::json!({}));
    /// ```
    pub fn into_value(self) -> Value {
        self.0.map_or_else(|| empty().clone(), |v| *v)
    }
}

impl From<Value> for Auth {
    fn from(value: Value) -> Self {
        match &value {
            Value::Object(map) if map.is_empty() => Auth(None),
            _ => Auth(Some(Box::new(value))),
        }
    }
}

impl From<Auth> for Value {
    fn from(auth: Auth) -> Self {
        auth.into_value()
    }
}

impl Deref for Auth {
    type Target = Value;

    fn deref(&self) -> &Value {
        self.0.as_deref().unwrap_or_else(|| empty())
    }
}

impl DerefMut for Auth {
    fn deref_mut(&mut self) -> &mut Value {
        self.0.get_or_insert_with(|| Box::new(empty().clone()))
    }
}

impl PartialEq for Auth {
    fn eq(&self, other: &Auth) -> bool {
        **self == **other
    }
}

impl PartialEq<Value> for Auth {
    fn eq(&self, other: &Value) -> bool {
        **self == *other
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Display for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl Serialize for Auth {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_empty_object_takes_no_allocation_and_reads_as_one() {
        assert!(Auth::from(json!({})).0.is_none());
        assert_eq!(Auth::from(json!({})), json!({}));
        for sent in [json!({"a": 1}), json!(null), json!([1]), json!("x"), json!(3)] {
            let auth = Auth::from(sent.clone());
            assert!(auth.0.is_some());
            assert_eq!(*auth, sent);
            assert_eq!(auth.into_value(), sent);
        }
        assert_eq!(std::mem::size_of::<Auth>(), 8);
    }
}
