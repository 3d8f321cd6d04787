//! The stream and key commands of the real driver (`XADD`, `XREAD`, `XRANGE`, `SET PX`,
//! `GET`+`DEL`), and the parsing of their replies.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use redis::Value;
use redis::aio::MultiplexedConnection;

use crate::conn::Conn;
use crate::driver::{DriverError, StreamEntry};

fn failed(e: redis::RedisError) -> DriverError {
    DriverError::Redis(Box::new(e))
}

/// The command connection, or why there is none. Stream commands run on one server only: a
/// Redis Cluster connection answers them as unsupported.
fn up(conn: Option<Conn>) -> Result<MultiplexedConnection, DriverError> {
    match conn {
        Some(Conn::Single(conn)) => Ok(conn),
        #[cfg(feature = "cluster")]
        Some(Conn::Cluster(_)) => {
            Err(DriverError::Unsupported("stream commands on a Redis Cluster"))
        }
        None => Err(DriverError::Disconnected),
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn bytes(value: &Value) -> Option<Bytes> {
    match value {
        Value::BulkString(b) => Some(Bytes::copy_from_slice(b)),
        Value::SimpleString(s) => Some(Bytes::copy_from_slice(s.as_bytes())),
        _ => None,
    }
}

/// One `[id, [field, value, ...]]` entry.
fn entry(value: &Value) -> Option<StreamEntry> {
    let Value::Array(parts) = value else { return None };
    let [id, fields] = parts.as_slice() else { return None };
    let id = text(id)?;
    let fields = match fields {
        Value::Array(list) => list
            .chunks(2)
            .map(|pair| match pair {
                [k, v] => Some((text(k)?, bytes(v)?)),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?,
        Value::Map(list) => {
            list.iter().map(|(k, v)| Some((text(k)?, bytes(v)?))).collect::<Option<Vec<_>>>()?
        }
        // An entry deleted while a consumer group held it; not produced by XRANGE/XREAD.
        Value::Nil => Vec::new(),
        _ => return None,
    };
    Some(StreamEntry { id, fields })
}

/// The entries of an `XRANGE`/`XREVRANGE` reply.
pub(crate) fn entries(value: &Value) -> Option<Vec<StreamEntry>> {
    match value {
        Value::Array(list) => list.iter().map(entry).collect(),
        Value::Nil => Some(Vec::new()),
        _ => None,
    }
}

/// The entries of an `XREAD` reply on one stream (RESP2 array or RESP3 map).
fn read_reply(value: &Value) -> Option<Vec<StreamEntry>> {
    match value {
        Value::Nil => Some(Vec::new()),
        Value::Array(streams) => match streams.first() {
            Some(Value::Array(pair)) => entries(pair.get(1)?),
            None => Some(Vec::new()),
            _ => None,
        },
        Value::Map(streams) => streams.first().map_or(Some(Vec::new()), |(_, v)| entries(v)),
        _ => None,
    }
}

pub(crate) async fn xadd(
    conn: Option<Conn>,
    stream: &str,
    max_len: usize,
    entries: &[Vec<(String, Bytes)>],
) -> Result<Vec<String>, DriverError> {
    let mut pipe = redis::pipe();
    for fields in entries {
        let cmd = pipe.cmd("XADD").arg(stream).arg("MAXLEN").arg("~").arg(max_len).arg("*");
        for (k, v) in fields {
            cmd.arg(k).arg(v.as_ref());
        }
    }
    let replies: Vec<Value> = pipe.query_async(&mut up(conn)?).await.map_err(failed)?;
    let ids: Option<Vec<String>> = replies.iter().map(text).collect();
    ids.filter(|ids| ids.len() == entries.len()).ok_or(DriverError::BadReply("XADD"))
}

/// `XREAD BLOCK` on an idle connection of `pool` (or a new one), put back after a good reply.
pub(crate) async fn xread(
    client: &redis::Client,
    pool: &Mutex<Vec<MultiplexedConnection>>,
    stream: &str,
    after: &str,
    count: usize,
    block: Duration,
) -> Result<Vec<StreamEntry>, DriverError> {
    let idle = pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let mut conn = match idle {
        Some(conn) => conn,
        None => {
            // The reply may take `block`; past that and a margin the link is dead.
            let config = redis::AsyncConnectionConfig::new()
                .set_response_timeout(Some(block + Duration::from_secs(5)));
            client.get_multiplexed_async_connection_with_config(&config).await.map_err(failed)?
        }
    };
    let read = read_on(&mut conn, stream, after, count, block).await;
    if read.is_ok() {
        pool.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
    }
    read
}

async fn read_on(
    conn: &mut MultiplexedConnection,
    stream: &str,
    after: &str,
    count: usize,
    block: Duration,
) -> Result<Vec<StreamEntry>, DriverError> {
    let block = u64::try_from(block.as_millis()).unwrap_or(u64::MAX).max(1);
    let reply: Value = redis::cmd("XREAD")
        .arg("COUNT")
        .arg(count)
        .arg("BLOCK")
        .arg(block)
        .arg("STREAMS")
        .arg(stream)
        .arg(after)
        .query_async(conn)
        .await
        .map_err(failed)?;
    read_reply(&reply).ok_or(DriverError::BadReply("XREAD"))
}

pub(crate) async fn xrange(
    conn: Option<Conn>,
    stream: &str,
    start: &str,
    end: &str,
    count: usize,
) -> Result<Vec<StreamEntry>, DriverError> {
    let reply: Value = redis::cmd("XRANGE")
        .arg(stream)
        .arg(start)
        .arg(end)
        .arg("COUNT")
        .arg(count)
        .query_async(&mut up(conn)?)
        .await
        .map_err(failed)?;
    entries(&reply).ok_or(DriverError::BadReply("XRANGE"))
}

pub(crate) async fn xlast(conn: Option<Conn>, stream: &str) -> Result<Option<String>, DriverError> {
    let reply: Value = redis::cmd("XREVRANGE")
        .arg(stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut up(conn)?)
        .await
        .map_err(failed)?;
    let list = entries(&reply).ok_or(DriverError::BadReply("XREVRANGE"))?;
    Ok(list.into_iter().next().map(|e| e.id))
}

pub(crate) async fn set_px(
    conn: Option<Conn>,
    key: &str,
    value: &[u8],
    ttl: Duration,
) -> Result<(), DriverError> {
    let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
    redis::cmd("SET")
        .arg(key)
        .arg(value)
        .arg("PX")
        .arg(ms)
        .query_async::<()>(&mut up(conn)?)
        .await
        .map_err(failed)
}

pub(crate) async fn get(conn: Option<Conn>, key: &str) -> Result<Option<Bytes>, DriverError> {
    let value: Value =
        redis::cmd("GET").arg(key).query_async(&mut up(conn)?).await.map_err(failed)?;
    match value {
        Value::Nil => Ok(None),
        other => bytes(&other).map(Some).ok_or(DriverError::BadReply("GET")),
    }
}

pub(crate) async fn get_del(conn: Option<Conn>, key: &str) -> Result<Option<Bytes>, DriverError> {
    let (value, _): (Value, Value) = redis::pipe()
        .atomic()
        .cmd("GET")
        .arg(key)
        .cmd("DEL")
        .arg(key)
        .query_async(&mut up(conn)?)
        .await
        .map_err(failed)?;
    match value {
        Value::Nil => Ok(None),
        other => bytes(&other).map(Some).ok_or(DriverError::BadReply("GET")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn read_replies_parse_in_both_protocols_and_refuse_bad_shapes() {
        let e = Value::Array(vec![bulk("1-0"), Value::Array(vec![bulk("uid"), bulk("x")])]);
        let resp2 =
            Value::Array(vec![Value::Array(vec![bulk("s"), Value::Array(vec![e.clone()])])]);
        let got = read_reply(&resp2).unwrap_or_default();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, "1-0");
        assert_eq!(got[0].field("uid").map(|b| b.as_ref()), Some(b"x".as_slice()));
        let resp3 = Value::Map(vec![(bulk("s"), Value::Array(vec![e]))]);
        assert_eq!(read_reply(&resp3).map(|v| v.len()), Some(1));
        assert_eq!(read_reply(&Value::Nil), Some(Vec::new()));
        let odd = Value::Array(vec![bulk("1-0"), Value::Array(vec![bulk("uid")])]);
        assert!(entries(&Value::Array(vec![odd])).is_none(), "a field without value");
        assert!(read_reply(&Value::Int(3)).is_none());
    }
}
