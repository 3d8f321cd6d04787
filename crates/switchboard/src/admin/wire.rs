//! The Admin UI's data shapes: timestamps, serialized sockets, the host's identity.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::{RemoteSocket, Socket};

/// Milliseconds since the Unix epoch (0 before it).
pub(super) fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `ms` as JavaScript's `Date.toISOString()` writes it: `2024-05-01T12:00:00.123Z`.
pub(super) fn iso(ms: u64) -> String {
    let (days, rest) = (ms / 86_400_000, ms % 86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, milli) = (rest / 3_600_000, rest / 60_000 % 60, rest / 1000 % 60, rest % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// A handshake's JSON without `auth` (which may hold credentials).
fn handshake_json(mut handshake: Value) -> Value {
    if let Some(map) = handshake.as_object_mut() {
        map.remove("auth");
    }
    handshake
}

/// `socket.data`, `{}` when unset (Node's default).
fn data_or_empty(data: Value) -> Value {
    if data.is_null() { Value::Object(Map::new()) } else { data }
}

/// A local socket as the UI lists it.
pub(super) fn serialize_socket(socket: &Socket) -> Value {
    let client_id: String = socket.conn_id().chars().take(12).collect();
    let rooms: Vec<Value> = socket.rooms().iter().map(|r| Value::from(r.as_ref())).collect();
    json!({
        "id": socket.id().as_str(),
        "clientId": client_id,
        "transport": socket.transport().as_str(),
        "nsp": socket.ns(),
        "data": data_or_empty(socket.data_json()),
        "handshake": handshake_json(socket.handshake().to_json()),
        "rooms": rooms,
    })
}

/// A socket of another server. The cluster's answer carries neither its connection id nor
/// its transport: the client id is the socket's id (12 characters) and the transport the
/// one its first request used.
pub(super) fn serialize_remote(socket: &RemoteSocket, nsp: &str) -> Value {
    let handshake = socket.handshake();
    let transport = match handshake.query.get("transport").map(String::as_str) {
        Some("websocket") => "websocket",
        _ => "polling",
    };
    let client_id: String = socket.id().as_str().chars().take(12).collect();
    let rooms: Vec<Value> = socket.rooms().iter().map(|r| Value::from(r.as_ref())).collect();
    let data = socket.data::<Value>().ok().flatten().unwrap_or(Value::Null);
    json!({
        "id": socket.id().as_str(),
        "clientId": client_id,
        "transport": transport,
        "nsp": nsp,
        "data": data_or_empty(data),
        "handshake": handshake_json(handshake.to_json()),
        "rooms": rooms,
    })
}

/// The host's name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`, else `localhost`).
pub(super) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_matches_javascript() {
        // new Date(x).toISOString() for each x.
        for (ms, text) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (1_714_564_800_123, "2024-05-01T12:00:00.123Z"),
            (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
            (1_709_251_199_001, "2024-02-29T23:59:59.001Z"),
        ] {
            assert_eq!(iso(ms), text, "{ms}");
        }
    }

    #[test]
    fn handshake_loses_auth_only() {
        let hs = json!({"auth": {"token": "t"}, "issued": 5, "headers": {}});
        assert_eq!(handshake_json(hs), json!({"issued": 5, "headers": {}}));
    }
}
