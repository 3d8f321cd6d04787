//! Engine.IO v4 / Socket.IO v5 packets as the benchmark sends and reads them: fixed shapes only
//! (`bc`, `m`, `echo` and its ack), written and recognised without a JSON parser.

use std::io::Write as _;

/// What a text message from the server means to the load generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming {
    /// Engine.IO `open` (`0{...}`).
    Open,
    /// Socket.IO `CONNECT` answer for `/` (`40{...}`).
    Connected,
    /// Socket.IO `CONNECT_ERROR` (`44...`).
    ConnectError,
    /// Engine.IO `ping` (`2`).
    Ping,
    /// Engine.IO `close` (`1`).
    Close,
    /// Engine.IO `noop` (`6`), sent to end a polling cycle during an upgrade.
    Noop,
    /// `42["m",seq]`: a broadcast delivery carrying `seq`.
    Broadcast(u64),
    /// `451-["mb",seq,<placeholder>]`: a binary broadcast carrying `seq`, complete with the
    /// attachment that follows.
    BinaryBroadcast(u64),
    /// `43id[...]`: the ack of request `id`.
    Ack(u64),
    /// Anything else.
    Other,
}

/// Reads the decimal number at the start of `s`: the value and how many bytes it used.
fn leading_number(s: &[u8]) -> Option<(u64, usize)> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s.get(..digits)? {
        n = n * 10 + u64::from(b - b'0');
    }
    Some((n, digits))
}

/// Classifies one Engine.IO text packet (one WebSocket message or one polling record).
#[must_use]
pub fn classify(p: &[u8]) -> Incoming {
    match p {
        [b'4', b'2', rest @ ..] => {
            let Some(args) = rest.strip_prefix(b"[\"m\",") else { return Incoming::Other };
            // Servers that pass the argument list on as one value send `[seq]`.
            let args = args.strip_prefix(b"[").unwrap_or(args);
            leading_number(args).map_or(Incoming::Other, |(n, _)| Incoming::Broadcast(n))
        }
        [b'4', b'5', b'1', b'-', rest @ ..] => {
            let Some(args) = rest.strip_prefix(b"[\"mb\",") else { return Incoming::Other };
            leading_number(args).map_or(Incoming::Other, |(n, _)| Incoming::BinaryBroadcast(n))
        }
        [b'4', b'3', rest @ ..] => {
            leading_number(rest).map_or(Incoming::Other, |(n, _)| Incoming::Ack(n))
        }
        [b'4', b'0', ..] => Incoming::Connected,
        [b'4', b'4', ..] => Incoming::ConnectError,
        [b'0', ..] => Incoming::Open,
        [b'2'] => Incoming::Ping,
        [b'1'] => Incoming::Close,
        [b'6'] => Incoming::Noop,
        _ => Incoming::Other,
    }
}

/// The Engine.IO `sid` of an `open` packet (`0{"sid":"...",...}`).
#[must_use]
pub fn open_sid(p: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(p.strip_prefix(b"0")?).ok()?;
    let start = text.find("\"sid\":\"")? + 7;
    let len = text.get(start..)?.find('"')?;
    text.get(start..start + len)
}

/// `42["bc",seq]`: asks the server to emit `m` with `seq` to `room1`.
pub fn write_bc(out: &mut Vec<u8>, seq: u64) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "42[\"bc\",{seq}]");
}

/// `42["bcbin",seq]`: asks the server to emit `mb` with `seq` and a binary attachment to
/// `room1`.
pub fn write_bcbin(out: &mut Vec<u8>, seq: u64) {
    let _ = write!(out, "42[\"bcbin\",{seq}]");
}

/// `42id["echo",id]`: an `echo` event that asks for an ack with id `id`.
pub fn write_echo(out: &mut Vec<u8>, id: u64) {
    let _ = write!(out, "42{id}[\"echo\",{id}]");
}

/// `42["m",seq]`: the broadcast the raw ceiling server writes.
pub fn write_m(out: &mut Vec<u8>, seq: u64) {
    let _ = write!(out, "42[\"m\",{seq}]");
}

/// The `seq` of a `42["bc",seq]` packet (what the raw ceiling server reads).
#[must_use]
pub fn parse_bc(p: &[u8]) -> Option<u64> {
    let args = p.strip_prefix(b"42[\"bc\",")?;
    leading_number(args).map(|(n, _)| n)
}

/// Splits a polling payload into its packets (records separated by 0x1e).
pub fn split_payload(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|&b| b == 0x1e).filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_server_packets() {
        assert_eq!(
            classify(br#"0{"sid":"abc","upgrades":[],"pingInterval":25000}"#),
            Incoming::Open
        );
        assert_eq!(classify(br#"40{"sid":"x"}"#), Incoming::Connected);
        assert_eq!(classify(br#"44{"message":"no"}"#), Incoming::ConnectError);
        assert_eq!(classify(b"2"), Incoming::Ping);
        assert_eq!(classify(b"1"), Incoming::Close);
        assert_eq!(classify(b"6"), Incoming::Noop);
        assert_eq!(classify(br#"42["m",1234]"#), Incoming::Broadcast(1234));
        assert_eq!(classify(br#"42["m",[7]]"#), Incoming::Broadcast(7));
        assert_eq!(classify(br#"42["other",7]"#), Incoming::Other);
        assert_eq!(classify(b"4312[12]"), Incoming::Ack(12));
        assert_eq!(classify(b"43[12]"), Incoming::Other);
        assert_eq!(classify(b""), Incoming::Other);
    }

    #[test]
    fn writes_round_trip() {
        let mut out = Vec::new();
        write_bc(&mut out, 42);
        assert_eq!(out, br#"42["bc",42]"#);
        let head = br#"451-["mb",7,{"_placeholder":true,"num":0}]"#;
        assert_eq!(classify(head), Incoming::BinaryBroadcast(7));
        assert_eq!(classify(br#"451-["x",7]"#), Incoming::Other);
        assert_eq!(parse_bc(&out), Some(42));
        out.clear();
        write_echo(&mut out, 9);
        assert_eq!(out, br#"429["echo",9]"#);
        out.clear();
        write_m(&mut out, 5);
        assert_eq!(classify(&out), Incoming::Broadcast(5));
    }

    #[test]
    fn open_sid_and_payloads() {
        assert_eq!(
            open_sid(br#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[]}"#),
            Some("lv_VI97HAXpY6yYWAAAC")
        );
        assert_eq!(open_sid(b"0{}"), None);
        let parts: Vec<&[u8]> = split_payload(b"2\x1e4312[12]\x1e").collect();
        assert_eq!(parts, [&b"2"[..], &b"4312[12]"[..]]);
        assert_eq!(leading_number(b"99999999999999999999"), None);
    }
}
