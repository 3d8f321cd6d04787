//! A bare RESP2 connection for sharded subscriptions (`SSUBSCRIBE`), which redis-rs 1.x
//! offers only on cluster connections: commands go out as RESP arrays, and a reader task
//! turns the replies into frames.

use std::io;

use bytes::Bytes;
use redis::ConnectionAddr;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader,
};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

/// The largest bulk string accepted (Redis's own limit is 512 MiB).
const MAX_BULK: usize = 512 * 1024 * 1024;
/// The largest array accepted.
const MAX_ARRAY: usize = 1 << 20;

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Bytes>),
    Array(Vec<Frame>),
}

impl Frame {
    fn bulk(&self) -> Option<&[u8]> {
        match self {
            Frame::Bulk(Some(b)) => Some(b),
            _ => None,
        }
    }

    /// `smessage channel payload`, as (channel, payload).
    pub(crate) fn smessage(&self) -> Option<(String, Bytes)> {
        let Frame::Array(items) = self else { return None };
        let [kind, channel, Frame::Bulk(Some(payload))] = items.as_slice() else { return None };
        (kind.bulk()? == b"smessage").then(|| {
            (
                String::from_utf8_lossy(channel.bulk().unwrap_or_default()).into_owned(),
                payload.clone(),
            )
        })
    }

    /// Whether this is the answer to a `PING` in subscribed mode (`["pong", ""]`).
    pub(crate) fn is_pong(&self) -> bool {
        matches!(self, Frame::Array(items) if items.first().and_then(Frame::bulk) == Some(b"pong"))
            || matches!(self, Frame::Simple(s) if s == "PONG")
    }
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
async fn read_frame<R: AsyncBufRead + Unpin>(
    rd: &mut R,
    depth: usize,
) -> io::Result<Option<Frame>> {
    let mut line = Vec::new();
    if rd.read_until(b'\n', &mut line).await? == 0 {
        return Ok(None);
    }
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed reply from redis");
    let text = line.strip_suffix(b"\r\n").ok_or_else(bad)?;
    let (kind, rest) = text.split_first().ok_or_else(bad)?;
    let rest = std::str::from_utf8(rest).map_err(|_| bad())?;
    let number = || rest.parse::<i64>().map_err(|_| bad());
    let frame = match kind {
        b'+' => Frame::Simple(rest.to_owned()),
        b'-' => Frame::Error(rest.to_owned()),
        b':' => Frame::Int(number()?),
        b'$' => match number()? {
            -1 => Frame::Bulk(None),
            n => {
                let n = usize::try_from(n).ok().filter(|n| *n <= MAX_BULK).ok_or_else(bad)?;
                let mut data = vec![0; n + 2];
                rd.read_exact(&mut data).await?;
                data.truncate(n);
                Frame::Bulk(Some(Bytes::from(data)))
            }
        },
        b'*' => match number()? {
            -1 => Frame::Array(Vec::new()),
            n => {
                let n = usize::try_from(n)
                    .ok()
                    .filter(|n| *n <= MAX_ARRAY && depth < 8)
                    .ok_or_else(bad)?;
                let mut items = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    items.push(Box::pin(read_frame(rd, depth + 1)).await?.ok_or_else(bad)?);
                }
                Frame::Array(items)
            }
        },
        _ => return Err(bad()),
    };
    Ok(Some(frame))
}

/// A subscriber connection: write commands, read frames.
pub(crate) struct ShardConn {
    writer: OwnedWriteHalf,
    /// Frames read by the reader task; closed when the connection ends.
    pub(crate) frames: mpsc::UnboundedReceiver<Frame>,
    /// Stops the reader, which holds the socket's read half, when the connection is dropped.
    reader: tokio::task::AbortHandle,
}

impl Drop for ShardConn {
    fn drop(&mut self) {
        // The socket closes at once, so that Redis stops counting this connection among the
        // channel's subscribers before the next session subscribes again.
        self.reader.abort();
    }
}

impl ShardConn {
    /// Connects to the server of `info` and authenticates as redis-rs would.
    pub(crate) async fn connect(info: &redis::ConnectionInfo) -> io::Result<ShardConn> {
        let ConnectionAddr::Tcp(host, port) = info.addr() else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "sharded pub/sub needs a plain TCP redis url",
            ));
        };
        let stream = TcpStream::connect((host.as_str(), *port)).await?;
        stream.set_nodelay(true)?;
        let (rd, writer) = stream.into_split();
        // Unbounded: the link task drains it as it routes messages; bounded by what Redis sends.
        let (tx, frames) = mpsc::unbounded_channel();
        // The reader: ends at the end of the stream or on malformed input, which closes
        // `frames` and tells the link task the connection is gone; aborted when the
        // connection is dropped.
        let reader = tokio::spawn(async move {
            let mut rd = BufReader::new(rd);
            while let Ok(Some(frame)) = read_frame(&mut rd, 0).await {
                if tx.send(frame).is_err() {
                    return;
                }
            }
        });
        let mut conn = ShardConn { writer, frames, reader: reader.abort_handle() };
        let settings = info.redis_settings();
        if let Some(password) = settings.password() {
            let mut auth: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = settings.username() {
                auth.push(user.as_bytes());
            }
            auth.push(password.as_bytes());
            conn.command(&auth).await?;
            match conn.frames.recv().await {
                Some(Frame::Simple(_)) => {}
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        "redis refused AUTH",
                    ));
                }
            }
        }
        Ok(conn)
    }

    /// Sends one command.
    pub(crate) async fn command(&mut self, args: &[&[u8]]) -> io::Result<()> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&out).await
    }
}

/// The next frame of the sharded connection; pending forever without one.
pub(crate) async fn next_frame(shard: &mut Option<ShardConn>) -> Option<Frame> {
    match shard {
        Some(shard) => shard.frames.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(bytes: &[u8]) -> io::Result<Option<Frame>> {
        read_frame(&mut BufReader::new(bytes), 0).await
    }

    #[tokio::test]
    async fn replies_parse_and_bad_ones_are_errors() {
        let msg = parse(b"*3\r\n$8\r\nsmessage\r\n$2\r\nch\r\n$3\r\na\r\n\r\n").await;
        let Ok(Some(frame)) = msg else { panic!("{msg:?}") };
        assert_eq!(frame.smessage(), Some(("ch".to_owned(), Bytes::from_static(b"a\r\n"))));
        let pong = parse(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n").await;
        assert!(pong.is_ok_and(|f| f.is_some_and(|f| f.is_pong())));
        assert!(matches!(parse(b":3\r\n").await, Ok(Some(Frame::Int(3)))));
        assert!(matches!(parse(b"-ERR x\r\n").await, Ok(Some(Frame::Error(_)))));
        assert!(matches!(parse(b"").await, Ok(None)));
        for bad in
            [&b"?x\r\n"[..], b"$5\r\nab", b"*2\r\n:1\r\n", b":x\r\n", b"$-7\r\n", b"+no-crlf"]
        {
            assert!(parse(bad).await.is_err(), "{bad:?}");
        }
    }
}
