//! The HTTP/1.1 the benchmark needs: the WebSocket upgrade request and response head, and
//! polling requests with responses framed by `Content-Length` or chunked encoding.

use std::io::Write as _;

/// The path every Engine.IO request uses.
pub const PATH: &str = "/socket.io/?EIO=4&transport=";

/// The WebSocket upgrade request (a fixed key: the client does not check the accept hash).
#[must_use]
pub fn upgrade_request(host: &str) -> Vec<u8> {
    format!(
        "GET {PATH}websocket HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    .into_bytes()
}

/// A polling `GET` (with `sid` once known).
pub fn write_get(out: &mut Vec<u8>, host: &str, sid: Option<&str>) {
    let _ = match sid {
        Some(sid) => write!(out, "GET {PATH}polling&sid={sid} HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        None => write!(out, "GET {PATH}polling HTTP/1.1\r\nHost: {host}\r\n\r\n"),
    };
}

/// A polling `POST` of `body`.
pub fn write_post(out: &mut Vec<u8>, host: &str, sid: &str, body: &[u8]) {
    let _ = write!(
        out,
        "POST {PATH}polling&sid={sid} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain;charset=UTF-8\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    out.extend_from_slice(body);
}

/// Where the head ends (the index just past `\r\n\r\n`).
#[must_use]
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// The status code of a response head.
#[must_use]
pub fn status(head: &[u8]) -> Option<u16> {
    let code = head.strip_prefix(b"HTTP/1.1 ").or_else(|| head.strip_prefix(b"HTTP/1.0 "))?;
    std::str::from_utf8(code.get(..3)?).ok()?.parse().ok()
}

fn header_value<'a>(head: &'a [u8], name: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(head).ok()?;
    text.split("\r\n").skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A complete response at the front of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// How many bytes of the buffer the response used.
    pub consumed: usize,
}

/// Parses one response from the front of `buf`; `Ok(None)` when more bytes are needed.
///
/// # Errors
/// A malformed head or chunk size.
pub fn parse_response(buf: &[u8]) -> Result<Option<Response>, &'static str> {
    let Some(end) = head_end(buf) else { return Ok(None) };
    let head = buf.get(..end).ok_or("head")?;
    let status = status(head).ok_or("bad status line")?;
    if let Some(len) = header_value(head, "content-length") {
        let len: usize = len.parse().map_err(|_| "bad content-length")?;
        let Some(body) = buf.get(end..end + len) else { return Ok(None) };
        return Ok(Some(Response { status, body: body.to_vec(), consumed: end + len }));
    }
    if header_value(head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        let mut pos = end;
        loop {
            let rest = buf.get(pos..).ok_or("chunk")?;
            let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
                return Ok(None);
            };
            let size_text = std::str::from_utf8(rest.get(..line_end).ok_or("chunk")?)
                .map_err(|_| "chunk size")?;
            let size_text = size_text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
            let data_start = pos + line_end + 2;
            if size == 0 {
                // Trailers are not used by the servers under test: expect the final CRLF.
                if buf.len() < data_start + 2 {
                    return Ok(None);
                }
                return Ok(Some(Response { status, body, consumed: data_start + 2 }));
            }
            let Some(data) = buf.get(data_start..data_start + size) else { return Ok(None) };
            body.extend_from_slice(data);
            if buf.len() < data_start + size + 2 {
                return Ok(None);
            }
            pos = data_start + size + 2;
        }
    }
    Ok(Some(Response { status, body: Vec::new(), consumed: end }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_response() {
        let buf =
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 2\r\n\r\nokHTTP/1.1";
        let r = parse_response(buf).unwrap().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"ok");
        assert_eq!(&buf[r.consumed..], b"HTTP/1.1");
        assert_eq!(parse_response(&buf[..buf.len() - 11]).unwrap(), None);
    }

    #[test]
    fn chunked_response() {
        let buf = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let r = parse_response(buf).unwrap().unwrap();
        assert_eq!(r.body, b"abcde");
        assert_eq!(r.consumed, buf.len());
        for cut in 0..buf.len() {
            assert_eq!(parse_response(&buf[..cut]).unwrap(), None, "cut {cut}");
        }
    }

    #[test]
    fn upgrade_head() {
        let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x01x";
        let end = head_end(head).unwrap();
        assert_eq!(status(&head[..end]), Some(101));
        assert_eq!(&head[end..], b"\x81\x01x");
        assert!(String::from_utf8(upgrade_request("h:1")).unwrap().ends_with("\r\n\r\n"));
    }
}
