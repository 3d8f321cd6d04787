//! Forwarding a request to the node that owns its session: polling requests over the pooled
//! client, WebSocket upgrades over a connection of their own, proxied byte for byte.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderName};
use http::uri::{Authority, PathAndQuery};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{Cluster, FORWARDED_HEADER, NodeTag, TOKEN_HEADER};
use crate::error::RequestError;
use crate::http1::{self, Upgraded};
use crate::service::{BoxError, ResponseBody};
use crate::websocket;

/// Headers of one hop only (RFC 9110 §7.6.1), never passed on; `host` is the owner's.
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::HOST,
];

/// Forwards `req`, which names the session `sid` this node does not hold, to its owner.
///
/// A session whose id names this node or no live node, an owner that cannot be reached in
/// `connect_timeout`, or one whose connection fails answers `400 Session ID unknown`, as a
/// gone session does: the client opens a new session. A POST body larger than `max_payload`
/// is refused here already (`413`). `wait` bounds the whole exchange (a GET poll is held by
/// the owner for up to a ping interval).
pub(crate) async fn forward<B>(
    cluster: &Cluster,
    sid: &str,
    req: Request<B>,
    max_payload: usize,
    wait: Duration,
) -> Result<Response<ResponseBody>, RequestError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let tag = NodeTag::of_sid(sid).ok_or(RequestError::UnknownSid)?;
    if tag == cluster.tag {
        return Err(RequestError::UnknownSid);
    }
    let found = tokio::time::timeout(cluster.lookup_timeout, (cluster.lookup)(tag.as_str())).await;
    let addr = found.ok().flatten().ok_or(RequestError::UnknownSid)?;
    let authority: Authority = addr.parse().map_err(|_| RequestError::UnknownSid)?;
    if websocket::is_upgrade(&req) {
        return proxy_upgrade(cluster, authority, req, wait).await;
    }
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, max_payload).collect().await {
        Ok(collected) => collected.to_bytes(),
        // Over the limit here, or already when the server read it.
        Err(e)
            if e.is::<http_body_util::LengthLimitError>()
                || e.downcast_ref() == Some(&http1::BodyError::TooLarge) =>
        {
            return Err(RequestError::PayloadTooLarge);
        }
        Err(_) => return Err(RequestError::BadRequest),
    };
    let mut out = Request::new(Full::new(body));
    *out.method_mut() = parts.method;
    *out.uri_mut() = owner_uri(&authority, parts.uri.path_and_query())?;
    *out.headers_mut() = pass_on(&parts.headers, false);
    mark(cluster, out.headers_mut());
    let res = match tokio::time::timeout(wait, cluster.client.request(out)).await {
        Ok(Ok(res)) => res,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, %authority, "forwarding to the owner failed");
            return Err(RequestError::UnknownSid);
        }
        Err(_) => return Err(RequestError::UnknownSid),
    };
    let (parts, body) = res.into_parts();
    let body = match tokio::time::timeout(wait, body.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        _ => return Err(RequestError::UnknownSid),
    };
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = parts.status;
    *res.headers_mut() = answer_headers(&parts.headers);
    Ok(res)
}

/// Forwards a WebSocket upgrade: the owner's `101` goes back to the client, then both
/// upgraded connections are joined until either ends.
async fn proxy_upgrade<B>(
    cluster: &Cluster,
    authority: Authority,
    mut req: Request<B>,
    wait: Duration,
) -> Result<Response<ResponseBody>, RequestError> {
    let from_client = http1::on_upgrade(&mut req);
    let connect = TcpStream::connect(authority.as_str());
    let tcp = match tokio::time::timeout(cluster.connect_timeout, connect).await {
        Ok(Ok(tcp)) => tcp,
        _ => return Err(RequestError::UnknownSid),
    };
    let _ = tcp.set_nodelay(true);
    let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await
    else {
        return Err(RequestError::UnknownSid);
    };
    // Drives the connection to the owner; it ends when the connection is upgraded (the
    // upgraded stream then belongs to the copy task below) or closed.
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "connection to the owner failed");
        }
    });
    let mut out = Request::new(Full::new(Bytes::new()));
    *out.method_mut() = req.method().clone();
    *out.uri_mut() = owner_uri(&authority, req.uri().path_and_query())?;
    let mut headers = pass_on(req.headers(), true);
    headers.insert(
        header::HOST,
        HeaderValue::from_str(authority.as_str()).map_err(|_| RequestError::UnknownSid)?,
    );
    *out.headers_mut() = headers;
    mark(cluster, out.headers_mut());
    let mut res = match tokio::time::timeout(wait, sender.send_request(out)).await {
        Ok(Ok(res)) => res,
        _ => return Err(RequestError::UnknownSid),
    };
    if res.status() != StatusCode::SWITCHING_PROTOCOLS {
        let status = res.status();
        let headers = answer_headers(res.headers());
        let body = match tokio::time::timeout(wait, res.into_body().collect()).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            _ => return Err(RequestError::UnknownSid),
        };
        let mut answer = Response::new(Full::new(body));
        *answer.status_mut() = status;
        *answer.headers_mut() = headers;
        return Ok(answer);
    }
    let from_owner = hyper::upgrade::on(&mut res);
    let mut answer = Response::new(Full::new(Bytes::new()));
    *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for name in [
        header::UPGRADE,
        header::CONNECTION,
        header::SEC_WEBSOCKET_ACCEPT,
        header::SEC_WEBSOCKET_EXTENSIONS,
        header::SEC_WEBSOCKET_PROTOCOL,
    ] {
        if let Some(value) = res.headers().get(&name) {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    // Owns both upgraded connections and copies between them until either side ends; then
    // both are dropped (closed).
    tokio::spawn(async move {
        let (client, owner) = match tokio::join!(from_client.upgraded(), from_owner) {
            (Some(client), Ok(owner)) => (client, owner),
            _ => return,
        };
        let mut owner = TokioIo::new(owner);
        let copied = match client {
            Upgraded::Ours(handoff) => {
                // The `101` answer (held back by the server) goes to the client first, and
                // what the client sent after its request to the owner.
                let mut client = handoff.tcp;
                match (client.write_all(&handoff.head).await, owner.write_all(&handoff.read).await)
                {
                    (Ok(()), Ok(())) => {
                        tokio::io::copy_bidirectional(&mut client, &mut owner).await
                    }
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            }
            Upgraded::Hyper(client) => {
                tokio::io::copy_bidirectional(&mut TokioIo::new(client), &mut owner).await
            }
        };
        if let Err(e) = copied {
            tracing::debug!(error = %e, "forwarded websocket ended");
        }
    });
    Ok(answer)
}

/// `http://authority/path?query` on the owner.
fn owner_uri(authority: &Authority, path: Option<&PathAndQuery>) -> Result<Uri, RequestError> {
    Uri::builder()
        .scheme("http")
        .authority(authority.clone())
        .path_and_query(path.map_or("/", PathAndQuery::as_str))
        .build()
        .map_err(|_| RequestError::BadRequest)
}

/// The client's headers as the owner gets them: without the hop-by-hop ones (but with
/// `upgrade` and `connection` for a WebSocket upgrade), nor any cluster header the client
/// sent, nor `content-length` (the forwarded body sets its own).
fn pass_on(headers: &HeaderMap, upgrade: bool) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len() + 2);
    for (name, value) in headers {
        let upgrade_header = *name == header::UPGRADE || *name == header::CONNECTION;
        let dropped = (HOP_BY_HOP.contains(name) && !(upgrade && upgrade_header))
            || *name == header::CONTENT_LENGTH
            || name.as_str() == FORWARDED_HEADER
            || name.as_str() == TOKEN_HEADER
            || name.as_str() == "keep-alive"
            || name.as_str() == "proxy-connection";
        if !dropped {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Adds the marker and the token.
fn mark(cluster: &Cluster, headers: &mut HeaderMap) {
    headers.insert(FORWARDED_HEADER, HeaderValue::from_static("1"));
    if let Ok(token) = HeaderValue::from_str(&cluster.token) {
        headers.insert(TOKEN_HEADER, token);
    }
}

/// The owner's answer headers as the client gets them: without the hop-by-hop ones, and
/// without CORS headers nor `Vary` (the receiving node answers CORS as it is configured).
fn answer_headers(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let dropped = HOP_BY_HOP.contains(name)
            || *name == header::CONTENT_LENGTH
            || name.as_str().starts_with("access-control-")
            || *name == header::VARY
            || name.as_str() == "keep-alive";
        if !dropped {
            out.append(name.clone(), value.clone());
        }
    }
    out
}
