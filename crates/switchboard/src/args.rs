//! The one argument convention of every emit, broadcast and ack, and how the binary
//! attachments of a received event follow its data when a handler sends that data on.
//!
//! - A tuple spreads into arguments (`&("a", 1)` is two arguments), `()` is none, and
//!   anything else is one argument: the mirror of how [`crate::Data`] reads them. serde
//!   writes a fixed-size array (`[T; N]`) as a tuple, so it spreads too; a `Vec` or a slice
//!   is one array argument.
//! - A value holding binary placeholders (`{"_placeholder":true,"num":N}`: what a handler
//!   reads from a binary event as JSON) is sent with the attachments it stands for: those of
//!   the event being handled (for an emit or a broadcast inside its handler) or of the event
//!   an [`crate::Ack`] answers. A placeholder with no attachment to stand for is refused with
//!   [`crate::EmitError::UnresolvedPlaceholder`], never sent alone.

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use switchboard_proto::socket::{Payload, placeholder, placeholder_num};

use crate::EmitError;

tokio::task_local! {
    /// The attachments of the binary event whose handler runs on this task: set around the
    /// handler's future only when the event carried binary, so other packets pay nothing.
    static INCOMING: Vec<Bytes>;
}

/// Runs `fut` with `attachments` as the binary of the event being handled.
pub(crate) fn with_incoming<F: std::future::Future>(
    attachments: Vec<Bytes>,
    fut: F,
) -> impl std::future::Future<Output = F::Output> {
    INCOMING.scope(attachments, fut)
}

/// How a value's top level serializes: all the argument convention needs to know.
enum Shape {
    /// A tuple: spread into arguments.
    Tuple,
    /// `()`: no arguments.
    Unit,
    /// Anything else: one argument.
    Other,
}

/// The arguments `data` stands for, with binary placeholders resolved against the
/// attachments of the event being handled (if any).
pub(crate) fn to_payload<T: Serialize + ?Sized>(data: &T) -> Result<Payload, EmitError> {
    to_payload_with(data, None)
}

/// As [`to_payload`], resolving placeholders against `attachments` first (an ack's event).
pub(crate) fn to_payload_with<T: Serialize + ?Sized>(
    data: &T,
    attachments: Option<&[Bytes]>,
) -> Result<Payload, EmitError> {
    let value = serde_json::to_value(data).map_err(EmitError::Serialize)?;
    let args = match (shape(data), value) {
        (Shape::Tuple, Value::Array(args)) => args,
        (Shape::Unit, Value::Null) => Vec::new(),
        (_, value) => vec![value],
    };
    resolve(args, attachments)
}

/// A payload of `args`: placeholders replaced by attachments of `attachments` (or, failing
/// that, of the event being handled), renumbered in order of appearance.
pub(crate) fn resolve(
    mut args: Vec<Value>,
    attachments: Option<&[Bytes]>,
) -> Result<Payload, EmitError> {
    if !args.iter().any(has_placeholder) {
        return Ok(Payload::from_args(args));
    }
    let mut out = Vec::new();
    let resolved = match attachments {
        Some(found) if !found.is_empty() => renumber(&mut args, found, &mut out),
        _ => INCOMING
            .try_with(|found| renumber(&mut args, found, &mut out))
            .unwrap_or(Err(EmitError::UnresolvedPlaceholder)),
    };
    resolved.map(|()| Payload::from_parts(args, out))
}

/// Points every placeholder in `args` at a copy (shared bytes) of the attachment it names.
fn renumber(args: &mut [Value], found: &[Bytes], out: &mut Vec<Bytes>) -> Result<(), EmitError> {
    let mut stack: Vec<&mut Value> = args.iter_mut().collect();
    while let Some(value) = stack.pop() {
        if let Some(num) = placeholder_num(value) {
            let bytes = found.get(num).ok_or(EmitError::UnresolvedPlaceholder)?;
            *value = placeholder(out.len());
            out.push(bytes.clone());
            continue;
        }
        match value {
            Value::Array(items) => stack.extend(items.iter_mut().rev()),
            Value::Object(map) => stack.extend(map.values_mut().rev()),
            _ => {}
        }
    }
    Ok(())
}

/// Whether `value` holds a binary placeholder anywhere.
pub(crate) fn has_placeholder(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().any(has_placeholder),
        Value::Object(map) => placeholder_num(value).is_some() || map.values().any(has_placeholder),
        _ => false,
    }
}

/// Whether a value's encoded JSON may hold a placeholder (a cheap look at the text).
pub(crate) fn may_hold_placeholder(json: &str) -> bool {
    json.contains("\"_placeholder\"")
}

/// Whether `data` spreads into several (or no) arguments: a tuple or `()`.
pub(crate) fn spreads<T: Serialize + ?Sized>(data: &T) -> bool {
    matches!(shape(data), Shape::Tuple | Shape::Unit)
}

/// The top-level shape of `data`, found by starting to serialize it: the probe stops at the
/// first call, so nothing is written.
fn shape<T: Serialize + ?Sized>(data: &T) -> Shape {
    match data.serialize(Probe) {
        // `()` has no size; `Value::Null` writes a unit too, and is one `null` argument.
        Ok(Shape::Unit) | Err(Found(Shape::Unit)) if std::mem::size_of_val(data) != 0 => {
            Shape::Other
        }
        Ok(shape) | Err(Found(shape)) => shape,
    }
}

/// Carries the shape out of the probe as an error, which stops serialization at once.
#[derive(Debug)]
struct Found(Shape);

impl std::fmt::Debug for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Shape::Tuple => "tuple",
            Shape::Unit => "unit",
            Shape::Other => "other",
        })
    }
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl std::error::Error for Found {}

impl serde::ser::Error for Found {
    fn custom<M: std::fmt::Display>(_msg: M) -> Self {
        Found(Shape::Other)
    }
}

/// A serializer that only reports what kind of value it was given.
struct Probe;

macro_rules! other {
    ($($name:ident($($arg:ty),*)),* $(,)?) => {
        $(fn $name(self, $(_: $arg),*) -> Result<Shape, Found> { Err(Found(Shape::Other)) })*
    };
}

impl serde::Serializer for Probe {
    type Ok = Shape;
    type Error = Found;
    type SerializeSeq = serde::ser::Impossible<Shape, Found>;
    type SerializeTuple = serde::ser::Impossible<Shape, Found>;
    type SerializeTupleStruct = serde::ser::Impossible<Shape, Found>;
    type SerializeTupleVariant = serde::ser::Impossible<Shape, Found>;
    type SerializeMap = serde::ser::Impossible<Shape, Found>;
    type SerializeStruct = serde::ser::Impossible<Shape, Found>;
    type SerializeStructVariant = serde::ser::Impossible<Shape, Found>;

    other!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );

    fn serialize_unit(self) -> Result<Shape, Found> {
        Err(Found(Shape::Unit))
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Shape, Found> {
        // `Some(x)` serializes as `x` in JSON: its shape is the inner value's.
        value.serialize(Probe)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _value: &T,
    ) -> Result<Shape, Found> {
        Err(Found(Shape::Other))
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<Shape, Found> {
        Err(Found(Shape::Other))
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Found> {
        Err(Found(Shape::Other))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Found> {
        Err(Found(Shape::Tuple))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Found> {
        Err(Found(Shape::Other))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Found> {
        Err(Found(Shape::Other))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Found> {
        Err(Found(Shape::Other))
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Found> {
        Err(Found(Shape::Other))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Found> {
        Err(Found(Shape::Other))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn tuples_spread_units_are_empty_the_rest_is_one_argument() {
        assert_eq!(to_payload(&("a", 1)).unwrap().args(), &[json!("a"), json!(1)]);
        assert_eq!(to_payload(&(7,)).unwrap().args(), &[json!(7)]);
        assert!(to_payload(&()).unwrap().args().is_empty());
        assert_eq!(to_payload(&vec![1, 2]).unwrap().args(), &[json!([1, 2])]);
        assert_eq!(to_payload(&[1, 2][..]).unwrap().args(), &[json!([1, 2])]);
        // serde writes a fixed-size array as a tuple: it spreads.
        assert_eq!(to_payload(&[1, 2]).unwrap().args(), &[json!(1), json!(2)]);
        assert_eq!(to_payload("x").unwrap().args(), &[json!("x")]);
        assert_eq!(to_payload(&json!({"a": 1})).unwrap().args(), &[json!({"a": 1})]);
        assert_eq!(to_payload(&Some(("a", 2))).unwrap().args(), &[json!("a"), json!(2)]);
        assert_eq!(to_payload(&None::<u8>).unwrap().args(), &[Value::Null]);
        assert_eq!(to_payload(&Value::Null).unwrap().args(), &[Value::Null]);
    }

    #[test]
    fn placeholders_take_their_attachments_or_are_refused() {
        let found = [Bytes::from_static(b"zero"), Bytes::from_static(b"one")];
        let data = json!({"a": [placeholder(1)], "b": placeholder(0)});
        let p = to_payload_with(&data, Some(&found)).unwrap();
        assert_eq!(p.args(), &[json!({"a": [placeholder(0)], "b": placeholder(1)})]);
        assert_eq!(p.attachments(), &[Bytes::from_static(b"one"), Bytes::from_static(b"zero")]);
        assert!(matches!(
            to_payload_with(&placeholder(2), Some(&found)),
            Err(EmitError::UnresolvedPlaceholder)
        ));
        assert!(matches!(to_payload(&placeholder(0)), Err(EmitError::UnresolvedPlaceholder)));
        // `_placeholder: false` is data.
        let plain = json!({"_placeholder": false, "num": 0});
        assert_eq!(to_payload(&plain).unwrap().args(), &[plain]);
    }

    #[tokio::test]
    async fn inside_a_binary_handler_its_attachments_are_found() {
        let p = with_incoming(vec![Bytes::from_static(b"x")], async {
            to_payload(&(placeholder(0), 1)).unwrap()
        })
        .await;
        assert_eq!(p.args(), &[placeholder(0), json!(1)]);
        assert_eq!(p.attachments(), &[Bytes::from_static(b"x")]);
    }
}
