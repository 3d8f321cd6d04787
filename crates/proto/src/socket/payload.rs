//! Event and ack arguments, with their binary attachments.

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

/// The key that marks a binary placeholder object.
const PLACEHOLDER_KEY: &str = "_placeholder";

/// The arguments of an event or an ack, and the binary attachments they refer to.
///
/// Arguments are JSON values kept in order, and objects keep their key order (the crate
/// enables `serde_json/preserve_order`), so a payload is re-emitted exactly as it came:
/// compact JSON, same argument and key order. A binary argument is stored as the wire's
/// placeholder object `{"_placeholder":true,"num":N}` and the bytes are attachment `N`; this is
/// the shape the packet has on the wire, so decoding and re-encoding (an echo, a relay) need no
/// tree rewrite, and one encoded packet can be shared by every recipient of a broadcast.
///
/// ```
/// use switchboard_proto::socket::Payload;
/// use serde_json::json;
///
/// let mut p = Payload::new();
/// p.push(json!({"user": "ana"}));
/// p.push_binary(vec![1u8, 2, 3]);
/// assert_eq!(p.args()[1], json!({"_placeholder": true, "num": 0}));
/// assert_eq!(p.binary(&p.args()[1]).map(|b| b.as_ref()), Some(&[1u8, 2, 3][..]));
/// assert!(p.is_binary());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    args: Vec<Value>,
    attachments: Vec<Bytes>,
}

impl Payload {
    /// No arguments.
    ///
    /// ```
    /// use switchboard_proto::socket::Payload;
    ///
    /// let p = Payload::new();
    /// assert!(p.args().is_empty() && !p.is_binary());
    /// assert_eq!(p, Payload::default());
    /// ```
    pub fn new() -> Self {
        Payload::default()
    }

    /// A payload of JSON arguments and the attachments their placeholders refer to.
    ///
    /// No check is made here; the decoder validates what comes from the network.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use serde_json::json;
    /// use switchboard_proto::socket::{Payload, placeholder};
    ///
    /// let args = vec![json!("avatar.png"), placeholder(0)];
    /// let p = Payload::from_parts(args, vec![Bytes::from_static(b"\x89PNG")]);
    /// assert_eq!(p.binary(&p.args()[1]).map(|b| b.as_ref()), Some(&b"\x89PNG"[..]));
    /// ```
    pub fn from_parts(args: Vec<Value>, attachments: Vec<Bytes>) -> Self {
        Payload { args, attachments }
    }

    /// A payload of JSON arguments, without binary data.
    ///
    /// ```
    /// use serde_json::json;
    /// use switchboard_proto::socket::Payload;
    ///
    /// let p = Payload::from_args(vec![json!("hello"), json!({"n": 1})]);
    /// assert_eq!(p.args().len(), 2);
    /// assert!(!p.is_binary());
    /// ```
    pub fn from_args(args: Vec<Value>) -> Self {
        Payload { args, attachments: Vec::new() }
    }

    /// A payload with one argument: `value` serialized to JSON.
    ///
    /// ```
    /// # use switchboard_proto::socket::Payload;
    /// let p = Payload::single(&("a", 1))?;
    /// assert_eq!(p.args(), &[serde_json::json!(["a", 1])]);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn single<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Payload::from_args(vec![serde_json::to_value(value)?]))
    }

    /// A payload whose arguments are the elements of `values`, which must serialize to a JSON
    /// array (a tuple, a `Vec`, an array). `()` gives no arguments. Anything else becomes one
    /// argument.
    ///
    /// ```
    /// # use switchboard_proto::socket::Payload;
    /// let p = Payload::spread(&("a", 1))?;
    /// assert_eq!(p.args(), &[serde_json::json!("a"), serde_json::json!(1)]);
    /// assert!(Payload::spread(&())?.args().is_empty());
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn spread<T: Serialize + ?Sized>(values: &T) -> Result<Self, serde_json::Error> {
        Ok(match serde_json::to_value(values)? {
            Value::Array(args) => Payload::from_args(args),
            Value::Null => Payload::new(),
            other => Payload::from_args(vec![other]),
        })
    }

    /// Appends a JSON argument.
    ///
    /// ```
    /// use serde_json::json;
    /// use switchboard_proto::socket::Payload;
    ///
    /// let mut p = Payload::new();
    /// p.push(json!("a")).push(json!(2));
    /// assert_eq!(p.args(), &[json!("a"), json!(2)]);
    /// ```
    pub fn push(&mut self, value: Value) -> &mut Self {
        self.args.push(value);
        self
    }

    /// Appends a binary argument: a placeholder argument and the attachment it names.
    ///
    /// ```
    /// use serde_json::json;
    /// use switchboard_proto::socket::Payload;
    ///
    /// let mut p = Payload::new();
    /// p.push(json!("upload")).push_binary(vec![0xca, 0xfe]);
    /// assert_eq!(p.args()[1], json!({"_placeholder": true, "num": 0}));
    /// assert_eq!(p.attachments()[0].as_ref(), &[0xca, 0xfe]);
    /// ```
    pub fn push_binary(&mut self, bytes: impl Into<Bytes>) -> &mut Self {
        let value = placeholder(self.attachments.len());
        self.attachments.push(bytes.into());
        self.args.push(value);
        self
    }

    /// Appends an attachment and gives back its placeholder, to put anywhere in an argument.
    ///
    /// ```
    /// use serde_json::json;
    /// use switchboard_proto::socket::Payload;
    ///
    /// let mut p = Payload::new();
    /// let thumb = p.attach(&b"tiny"[..]);
    /// p.push(json!({"name": "cat.jpg", "thumb": thumb}));
    /// assert_eq!(p.binary(&p.args()[0]["thumb"]).map(|b| b.as_ref()), Some(&b"tiny"[..]));
    /// ```
    pub fn attach(&mut self, bytes: impl Into<Bytes>) -> Value {
        let value = placeholder(self.attachments.len());
        self.attachments.push(bytes.into());
        value
    }

    /// The arguments, binary ones as placeholders.
    ///
    /// ```
    /// use serde_json::json;
    /// use switchboard_proto::socket::Payload;
    ///
    /// let p = Payload::spread(&("hi", 3))?;
    /// assert_eq!(p.args(), &[json!("hi"), json!(3)]);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn args(&self) -> &[Value] {
        &self.args
    }

    /// The arguments, mutably.
    ///
    /// ```
    /// use serde_json::json;
    /// use switchboard_proto::socket::Payload;
    ///
    /// let mut p = Payload::from_args(vec![json!(1), json!(2)]);
    /// p.args_mut().retain(|a| a != &json!(1));
    /// assert_eq!(p.args(), &[json!(2)]);
    /// ```
    pub fn args_mut(&mut self) -> &mut Vec<Value> {
        &mut self.args
    }

    /// The binary attachments, in placeholder order.
    ///
    /// ```
    /// use switchboard_proto::socket::Payload;
    ///
    /// let mut p = Payload::new();
    /// p.push_binary(vec![1u8]).push_binary(vec![2u8]);
    /// let sizes: Vec<usize> = p.attachments().iter().map(|b| b.len()).collect();
    /// assert_eq!(sizes, [1, 1]);
    /// assert_eq!(p.attachments()[1].as_ref(), &[2]);
    /// ```
    pub fn attachments(&self) -> &[Bytes] {
        &self.attachments
    }

    /// Gives back the arguments and the attachments.
    ///
    /// ```
    /// use serde_json::json;
    /// use switchboard_proto::socket::Payload;
    ///
    /// let mut p = Payload::new();
    /// p.push(json!("x")).push_binary(vec![7u8]);
    /// let (args, attachments) = p.into_parts();
    /// assert_eq!(args.len(), 2);
    /// assert_eq!(attachments[0].as_ref(), &[7]);
    /// ```
    pub fn into_parts(self) -> (Vec<Value>, Vec<Bytes>) {
        (self.args, self.attachments)
    }

    /// Whether any attachment is present (the packet is then a `BINARY_EVENT`/`BINARY_ACK`).
    ///
    /// ```
    /// use serde_json::json;
    /// use switchboard_proto::socket::Payload;
    ///
    /// let mut p = Payload::from_args(vec![json!("text only")]);
    /// assert!(!p.is_binary());
    /// p.push_binary(vec![0u8]);
    /// assert!(p.is_binary());
    /// ```
    pub fn is_binary(&self) -> bool {
        !self.attachments.is_empty()
    }

    /// The bytes a placeholder value stands for, if `value` is a placeholder of this payload.
    ///
    /// ```
    /// use serde_json::json;
    /// use switchboard_proto::socket::{Payload, placeholder};
    ///
    /// let mut p = Payload::new();
    /// p.push_binary(vec![5u8]);
    /// assert_eq!(p.binary(&p.args()[0]).map(|b| b.as_ref()), Some(&[5u8][..]));
    /// assert_eq!(p.binary(&placeholder(1)), None); // no attachment 1
    /// assert_eq!(p.binary(&json!("text")), None);
    /// ```
    pub fn binary(&self, value: &Value) -> Option<&Bytes> {
        placeholder_num(value).and_then(|n| self.attachments.get(n))
    }

    pub(crate) fn attachments_mut(&mut self) -> &mut Vec<Bytes> {
        &mut self.attachments
    }
}

/// The placeholder object that stands for attachment `num`: `{"_placeholder":true,"num":N}`.
pub fn placeholder(num: usize) -> Value {
    let mut map = serde_json::Map::with_capacity(2);
    map.insert(PLACEHOLDER_KEY.to_owned(), Value::Bool(true));
    map.insert("num".to_owned(), Value::from(num));
    Value::Object(map)
}

/// The attachment number of a well-formed placeholder object, `None` for any other value.
pub fn placeholder_num(value: &Value) -> Option<usize> {
    let obj = value.as_object()?;
    if obj.get(PLACEHOLDER_KEY) != Some(&Value::Bool(true)) {
        return None;
    }
    obj.get("num")?.as_u64().and_then(|n| usize::try_from(n).ok())
}

/// Why the placeholders of a binary packet do not match its attachments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlaceholderError {
    /// A placeholder's `num` is not an integer in `0..count`.
    Invalid,
    /// The number of placeholders differs from the announced attachment count.
    Count { expected: usize, found: usize },
}

/// Checks that `args` hold exactly `count` placeholders, each with an in-range integer `num`.
pub(crate) fn check_placeholders(args: &[Value], count: usize) -> Result<(), PlaceholderError> {
    let mut found = 0usize;
    let mut stack: Vec<&Value> = args.iter().collect();
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items),
            Value::Object(obj) if obj.get(PLACEHOLDER_KEY) == Some(&Value::Bool(true)) => {
                let num =
                    obj.get("num").and_then(Value::as_u64).ok_or(PlaceholderError::Invalid)?;
                if usize::try_from(num).map_or(true, |n| n >= count) {
                    return Err(PlaceholderError::Invalid);
                }
                found += 1;
            }
            Value::Object(obj) => stack.extend(obj.values()),
            _ => {}
        }
    }
    if found == count { Ok(()) } else { Err(PlaceholderError::Count { expected: count, found }) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_are_checked_deeply() {
        let args = vec![json!({"a": [placeholder(1)]}), placeholder(0)];
        assert_eq!(check_placeholders(&args, 2), Ok(()));
        assert_eq!(
            check_placeholders(&args, 3),
            Err(PlaceholderError::Count { expected: 3, found: 2 })
        );
        assert_eq!(check_placeholders(&args, 1), Err(PlaceholderError::Invalid));
        for bad in [
            json!({"_placeholder": true, "num": "0"}),
            json!({"_placeholder": true, "num": -1}),
            json!({"_placeholder": true, "num": 0.5}),
            json!({"_placeholder": true}),
            json!({"_placeholder": true, "num": 18446744073709551615u64}),
        ] {
            assert_eq!(
                check_placeholders(std::slice::from_ref(&bad), 1),
                Err(PlaceholderError::Invalid),
                "{bad}"
            );
        }
        // `_placeholder: false` is plain data.
        assert_eq!(check_placeholders(&[json!({"_placeholder": false, "num": 9})], 0), Ok(()));
    }

    #[test]
    fn resolves_placeholders() {
        let p = Payload::from_parts(vec![placeholder(0), json!(1)], vec![Bytes::from_static(b"x")]);
        assert_eq!(p.binary(&p.args()[0]), Some(&Bytes::from_static(b"x")));
        assert_eq!(p.binary(&p.args()[1]), None);
        assert_eq!(p.binary(&placeholder(5)), None);
    }
}
