//! Event names, with the names the protocol reserves.

use std::fmt;
use std::ops::Deref;

use crate::Str;

/// Event names that a peer may not send: the Socket.IO libraries use them for their own
/// lifecycle events (Node's `RESERVED_EVENTS`).
///
/// ```
/// use switchboard_proto::socket::{EventName, RESERVED_EVENTS};
///
/// assert!(RESERVED_EVENTS.contains(&"disconnect"));
/// assert!(RESERVED_EVENTS.iter().all(|name| EventName::new(*name).is_err()));
/// ```
pub const RESERVED_EVENTS: [&str; 6] =
    ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"];

/// The name was one of [`RESERVED_EVENTS`].
///
/// ```
/// use switchboard_proto::socket::{EventName, ReservedEventName};
///
/// let err = EventName::new("connect").unwrap_err();
/// assert_eq!(err, ReservedEventName("connect".to_owned()));
/// assert_eq!(err.to_string(), r#"event name "connect" is reserved"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event name {0:?} is reserved")]
pub struct ReservedEventName(pub String);

/// The name of an event: any string except the [`RESERVED_EVENTS`].
///
/// Cloning is cheap (the text is reference-counted).
///
/// ```
/// use switchboard_proto::socket::EventName;
///
/// let name = EventName::new("chat message")?;
/// assert_eq!(name, "chat message");
/// assert!(EventName::new("disconnect").is_err());
/// # Ok::<(), switchboard_proto::socket::ReservedEventName>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventName(Str);

impl EventName {
    /// Checks `name` against the reserved names.
    ///
    /// ```
    /// use switchboard_proto::socket::EventName;
    ///
    /// let owned = String::from("chat message");
    /// assert_eq!(EventName::new(owned)?, "chat message");
    /// assert!(EventName::new("newListener").is_err());
    /// # Ok::<(), switchboard_proto::socket::ReservedEventName>(())
    /// ```
    pub fn new(name: impl Into<Str>) -> Result<Self, ReservedEventName> {
        let name = name.into();
        if RESERVED_EVENTS.contains(&name.as_str()) {
            return Err(ReservedEventName(name.as_str().to_owned()));
        }
        Ok(EventName(name))
    }

    /// A name known at compile time. Returns an error for a reserved name, like [`EventName::new`].
    ///
    /// ```
    /// use switchboard_proto::socket::EventName;
    ///
    /// let ping = EventName::from_static("ping")?;
    /// assert_eq!(ping.as_str(), "ping");
    /// assert!(EventName::from_static("disconnecting").is_err());
    /// # Ok::<(), switchboard_proto::socket::ReservedEventName>(())
    /// ```
    pub fn from_static(name: &'static str) -> Result<Self, ReservedEventName> {
        EventName::new(Str::from_static(name))
    }

    /// The name as text.
    ///
    /// ```
    /// use switchboard_proto::socket::EventName;
    ///
    /// let name = EventName::new("join")?;
    /// assert_eq!(name.as_str(), "join");
    /// assert_eq!(name.to_string(), "join");
    /// # Ok::<(), switchboard_proto::socket::ReservedEventName>(())
    /// ```
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Deref for EventName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for EventName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for EventName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for EventName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl TryFrom<&str> for EventName {
    type Error = ReservedEventName;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        EventName::new(s)
    }
}

impl TryFrom<String> for EventName {
    type Error = ReservedEventName;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        EventName::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_every_reserved_name() {
        for name in RESERVED_EVENTS {
            assert_eq!(EventName::new(name), Err(ReservedEventName(name.to_owned())));
        }
        for name in ["message", "", "Connect", "connect ", "ping"] {
            assert_eq!(EventName::new(name).map(|n| n.as_str().to_owned()), Ok(name.to_owned()));
        }
    }
}
