//! Reading msgpack values as written by `notepack.io`, the encoder of the npm
//! `socket.io-msgpack-parser`: a bounded, non-panicking reader over one message.

use bytes::Bytes;
use rmp::Marker;
use serde_json::{Map, Number, Value};

use super::MsgpackError;
use crate::socket::payload::{placeholder, placeholder_num};

/// `notepack.io`'s extension type 0: `undefined` (fixext 1), a `Date` (fixext 8) or an
/// `ArrayBuffer` (ext 8/16/32).
const EXT_JS: i8 = 0;
/// The msgpack timestamp extension (written for dates by other encoders, `notepack.io` 3).
const EXT_TIMESTAMP: i8 = -1;

/// A decoded value, or JavaScript's `undefined` (which JSON has no word for).
#[derive(Debug)]
pub(super) enum Item {
    /// A value.
    Value(Value),
    /// `undefined`: dropped from objects and `null` in arrays, as `JSON.stringify` does.
    Undefined,
}

impl Item {
    fn into_value(self) -> Value {
        match self {
            Item::Value(v) => v,
            Item::Undefined => Value::Null,
        }
    }
}

/// A cursor over one msgpack message. Binary values (msgpack `bin`, an `ArrayBuffer`) become
/// placeholder objects and their bytes attachments, sharing the message's buffer.
#[derive(Debug)]
pub(super) struct Reader<'a> {
    src: &'a Bytes,
    pos: usize,
    max_depth: usize,
    max_attachments: usize,
    /// The binary values read so far, in placeholder order.
    pub(super) attachments: Vec<Bytes>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(src: &'a Bytes, max_depth: usize, max_attachments: usize) -> Self {
        Reader { src, pos: 0, max_depth, max_attachments, attachments: Vec::new() }
    }

    /// Whether every byte was read.
    pub(super) fn is_done(&self) -> bool {
        self.pos == self.src.len()
    }

    /// The bytes not read yet.
    fn remaining(&self) -> usize {
        self.src.len() - self.pos
    }

    /// The next `n` bytes, as a shared slice of the message.
    fn take(&mut self, n: usize) -> Result<Bytes, MsgpackError> {
        if n > self.remaining() {
            return Err(MsgpackError::Truncated);
        }
        let out = self.src.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], MsgpackError> {
        let bytes = self.src.get(self.pos..self.pos + N).ok_or(MsgpackError::Truncated)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        self.pos += N;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, MsgpackError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<usize, MsgpackError> {
        Ok(usize::from(u16::from_be_bytes(self.array()?)))
    }

    fn u32(&mut self) -> Result<usize, MsgpackError> {
        usize::try_from(u32::from_be_bytes(self.array()?)).map_err(|_| MsgpackError::Truncated)
    }

    /// A container length: each element takes at least one byte, so a length beyond the
    /// bytes left is refused before anything is allocated for it.
    fn items(&self, len: usize) -> Result<usize, MsgpackError> {
        if len > self.remaining() { Err(MsgpackError::Truncated) } else { Ok(len) }
    }

    /// Reads a map header, returning its entry count.
    pub(super) fn map_len(&mut self) -> Result<Option<usize>, MsgpackError> {
        let len = match Marker::from_u8(self.u8()?) {
            Marker::FixMap(n) => usize::from(n),
            Marker::Map16 => self.u16()?,
            Marker::Map32 => self.u32()?,
            _ => return Ok(None),
        };
        // Each entry takes at least two bytes.
        self.items(len.saturating_mul(2)).map(|_| Some(len))
    }

    /// Reads a map key: a string (`notepack.io` writes `Object.keys`).
    pub(super) fn key(&mut self) -> Result<String, MsgpackError> {
        let len = match Marker::from_u8(self.u8()?) {
            Marker::FixStr(n) => usize::from(n),
            Marker::Str8 => usize::from(self.u8()?),
            Marker::Str16 => self.u16()?,
            Marker::Str32 => self.u32()?,
            _ => return Err(MsgpackError::MapKey),
        };
        let bytes = self.take(len)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Reads one value at nesting `depth` (the packet's fields are at depth 1).
    pub(super) fn item(&mut self, depth: usize) -> Result<Item, MsgpackError> {
        let value = match Marker::from_u8(self.u8()?) {
            Marker::FixPos(n) => Value::from(n),
            Marker::FixNeg(n) => Value::from(n),
            Marker::Null => Value::Null,
            Marker::False => Value::Bool(false),
            Marker::True => Value::Bool(true),
            Marker::U8 => Value::from(self.u8()?),
            Marker::U16 => Value::from(u16::from_be_bytes(self.array()?)),
            Marker::U32 => Value::from(u32::from_be_bytes(self.array()?)),
            Marker::U64 => Value::from(u64::from_be_bytes(self.array()?)),
            Marker::I8 => Value::from(i8::from_be_bytes(self.array()?)),
            Marker::I16 => Value::from(i16::from_be_bytes(self.array()?)),
            Marker::I32 => Value::from(i32::from_be_bytes(self.array()?)),
            Marker::I64 => Value::from(i64::from_be_bytes(self.array()?)),
            Marker::F32 => float(f64::from(f32::from_be_bytes(self.array()?))),
            Marker::F64 => float(f64::from_be_bytes(self.array()?)),
            Marker::FixStr(n) => self.string(usize::from(n))?,
            Marker::Str8 => {
                let len = usize::from(self.u8()?);
                self.string(len)?
            }
            Marker::Str16 => {
                let len = self.u16()?;
                self.string(len)?
            }
            Marker::Str32 => {
                let len = self.u32()?;
                self.string(len)?
            }
            Marker::Bin8 => {
                let len = usize::from(self.u8()?);
                self.binary(len)?
            }
            Marker::Bin16 => {
                let len = self.u16()?;
                self.binary(len)?
            }
            Marker::Bin32 => {
                let len = self.u32()?;
                self.binary(len)?
            }
            Marker::FixArray(n) => self.seq(usize::from(n), depth)?,
            Marker::Array16 => {
                let len = self.u16()?;
                self.seq(len, depth)?
            }
            Marker::Array32 => {
                let len = self.u32()?;
                self.seq(len, depth)?
            }
            Marker::FixMap(n) => self.object(usize::from(n), depth)?,
            Marker::Map16 => {
                let len = self.u16()?;
                self.object(len, depth)?
            }
            Marker::Map32 => {
                let len = self.u32()?;
                self.object(len, depth)?
            }
            Marker::FixExt1 => return self.fixext(1),
            Marker::FixExt2 => return self.fixext(2),
            Marker::FixExt4 => return self.fixext(4),
            Marker::FixExt8 => return self.fixext(8),
            Marker::FixExt16 => return self.fixext(16),
            Marker::Ext8 => {
                let len = usize::from(self.u8()?);
                self.ext(len)?
            }
            Marker::Ext16 => {
                let len = self.u16()?;
                self.ext(len)?
            }
            Marker::Ext32 => {
                let len = self.u32()?;
                self.ext(len)?
            }
            Marker::Reserved => return Err(MsgpackError::Reserved),
        };
        Ok(Item::Value(value))
    }

    fn string(&mut self, len: usize) -> Result<Value, MsgpackError> {
        let bytes = self.take(len)?;
        // As Node's `Buffer#toString`: invalid UTF-8 becomes U+FFFD.
        Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// A binary value: its bytes become the next attachment, its place a placeholder.
    fn binary(&mut self, len: usize) -> Result<Value, MsgpackError> {
        if self.attachments.len() >= self.max_attachments {
            return Err(MsgpackError::TooManyBinaries { max: self.max_attachments });
        }
        let bytes = self.take(len)?;
        self.attachments.push(bytes);
        Ok(placeholder(self.attachments.len() - 1))
    }

    fn nest(&self, depth: usize) -> Result<usize, MsgpackError> {
        if depth >= self.max_depth {
            return Err(MsgpackError::TooDeep { max: self.max_depth });
        }
        Ok(depth + 1)
    }

    fn seq(&mut self, len: usize, depth: usize) -> Result<Value, MsgpackError> {
        let inner = self.nest(depth)?;
        let mut items = Vec::with_capacity(self.items(len)?);
        for _ in 0..len {
            items.push(self.item(inner)?.into_value());
        }
        Ok(Value::Array(items))
    }

    fn object(&mut self, len: usize, depth: usize) -> Result<Value, MsgpackError> {
        let inner = self.nest(depth)?;
        let mut map = Map::with_capacity(self.items(len.saturating_mul(2))? / 2);
        for _ in 0..len {
            let key = self.key()?;
            // A replaced value's binary values would be left without a place.
            if map.contains_key(&key) {
                return Err(MsgpackError::DuplicateKey);
            }
            match self.item(inner)? {
                Item::Value(v) => {
                    map.insert(key, v);
                }
                // `JSON.stringify` leaves such keys out.
                Item::Undefined => {}
            }
        }
        let value = Value::Object(map);
        // A literal placeholder object could not be told from a binary value.
        if placeholder_num(&value).is_some() {
            return Err(MsgpackError::PlaceholderObject);
        }
        Ok(value)
    }

    fn fixext(&mut self, len: usize) -> Result<Item, MsgpackError> {
        let ty = i8::from_be_bytes(self.array()?);
        match (ty, len) {
            (EXT_JS, 1) => {
                self.take(1)?;
                Ok(Item::Undefined)
            }
            (EXT_JS, 8) => Ok(Item::Value(date(i64::from_be_bytes(self.array()?)))),
            (EXT_TIMESTAMP, 4) => {
                let secs = u32::from_be_bytes(self.array()?);
                Ok(Item::Value(timestamp(i64::from(secs), 0)))
            }
            (EXT_TIMESTAMP, 8) => {
                let bits = u64::from_be_bytes(self.array()?);
                // 30 bits of nanoseconds, 34 of seconds: both fit.
                let (nanos, secs) = ((bits >> 34) as u32, (bits & 0x3_ffff_ffff) as i64);
                Ok(Item::Value(timestamp(secs, nanos)))
            }
            _ => self.foreign_ext(ty, len).map(Item::Value),
        }
    }

    fn ext(&mut self, len: usize) -> Result<Value, MsgpackError> {
        let ty = i8::from_be_bytes(self.array()?);
        match (ty, len) {
            // An `ArrayBuffer` (a browser's binary value): binary, as a Node `Buffer` is.
            (EXT_JS, _) => self.binary(len),
            (EXT_TIMESTAMP, 12) => {
                let nanos = u32::from_be_bytes(self.array()?);
                Ok(timestamp(i64::from_be_bytes(self.array()?), nanos))
            }
            _ => self.foreign_ext(ty, len),
        }
    }

    /// Another extension type: `[type, <binary>]`, as `notepack.io` gives it.
    fn foreign_ext(&mut self, ty: i8, len: usize) -> Result<Value, MsgpackError> {
        Ok(Value::Array(vec![Value::from(ty), self.binary(len)?]))
    }
}

/// A float as JSON has it: `NaN` and the infinities become `null` (as `JSON.stringify`).
fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// A msgpack timestamp as a `Date` would be written (milliseconds kept).
fn timestamp(secs: i64, nanos: u32) -> Value {
    secs.checked_mul(1000)
        .and_then(|ms| ms.checked_add(i64::from(nanos / 1_000_000)))
        .map_or(Value::Null, date)
}

/// The largest time a JavaScript `Date` holds, in milliseconds either side of 1970.
const MAX_DATE_MS: i64 = 8_640_000_000_000_000;

/// A `Date` (milliseconds since 1970) as `JSON.stringify` writes it: `Date#toISOString`, or
/// `null` for an invalid date.
fn date(ms: i64) -> Value {
    if !(-MAX_DATE_MS..=MAX_DATE_MS).contains(&ms) {
        return Value::Null;
    }
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, milli) =
        (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000);
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else {
        format!("{}{:06}", if year < 0 { '-' } else { '+' }, year.unsigned_abs())
    };
    Value::String(format!("{year}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z"))
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (the "days from civil"
/// algorithm, inverted).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_as_to_iso_string() {
        for (ms, iso) in [
            (0, json_str("1970-01-01T00:00:00.000Z")),
            (1_700_000_000_123, json_str("2023-11-14T22:13:20.123Z")),
            (-1, json_str("1969-12-31T23:59:59.999Z")),
            (951_782_400_000, json_str("2000-02-29T00:00:00.000Z")),
            (-62_198_755_200_000, json_str("-000001-01-01T00:00:00.000Z")),
            (253_402_300_800_000, json_str("+010000-01-01T00:00:00.000Z")),
            (MAX_DATE_MS, json_str("+275760-09-13T00:00:00.000Z")),
            (MAX_DATE_MS + 1, Value::Null),
        ] {
            assert_eq!(date(ms), iso, "{ms}");
        }
    }

    #[test]
    fn msgpack_timestamps_are_dates_too() {
        // 2023-11-14T22:13:20.123Z in the 32-, 64- and 96-bit forms.
        let secs: i64 = 1_700_000_000;
        let cases: Vec<Vec<u8>> = vec![
            [&[0xd6, 0xff][..], &(secs as u32).to_be_bytes()].concat(),
            [&[0xd7, 0xff][..], &((123_000_000u64 << 34) | secs as u64).to_be_bytes()].concat(),
            [&[0xc7, 12, 0xff][..], &123_000_000u32.to_be_bytes(), &secs.to_be_bytes()].concat(),
        ];
        let expected =
            ["2023-11-14T22:13:20.000Z", "2023-11-14T22:13:20.123Z", "2023-11-14T22:13:20.123Z"];
        for (bytes, iso) in cases.into_iter().zip(expected) {
            let bytes = Bytes::from(bytes);
            let mut reader = Reader::new(&bytes, 8, 8);
            assert!(matches!(reader.item(0), Ok(Item::Value(v)) if v == json_str(iso)), "{iso}");
            assert!(reader.is_done());
        }
        // Past what a Date holds: null.
        assert_eq!(timestamp(i64::MAX, 0), Value::Null);
    }

    fn json_str(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}
