//! The HTTP long-polling transport: one `GET` waiting for packets, one `POST` writing them.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, header};
use http_body_util::{BodyExt, Full};
use std::sync::Arc;

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use switchboard_proto::engine::{Packet, payload};

use super::Error;

/// The largest polling response body accepted (the JS client has no limit; this bounds memory).
const MAX_RESPONSE: usize = 100 * 1024 * 1024;

/// An HTTP client bound to one polling URL.
///
/// Cloning is cheap: the connection pool is shared, so a pending `GET` and a `POST` run on two
/// pooled keep-alive connections.
#[derive(Clone, Debug)]
pub(crate) struct Polling {
    client: Http,
    url: String,
    headers: HeaderMap,
    request_timeout: Option<Duration>,
}

impl Polling {
    /// A polling transport for `url` (which already carries `EIO`, `transport` and maybe
    /// `sid`), over TLS with `tls` (for an `https` URL).
    pub(crate) fn new(
        url: String,
        headers: HeaderMap,
        request_timeout: Option<Duration>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Self {
        let client = match tls {
            None => Http::Plain(Box::new(Client::builder(TokioExecutor::new()).build_http())),
            Some(config) => {
                let https = HttpsConnectorBuilder::new()
                    .with_tls_config(rustls::ClientConfig::clone(&config))
                    .https_only()
                    .enable_http1()
                    .build();
                Http::Tls(Box::new(Client::builder(TokioExecutor::new()).build(https)))
            }
        };
        Polling { client, url, headers, request_timeout }
    }

    /// The same client for another URL (the session URL once the `sid` is known).
    pub(crate) fn with_url(&self, url: String) -> Self {
        Polling { url, ..self.clone() }
    }

    /// Waits for the next batch of packets (`GET`).
    pub(crate) fn get(&self) -> impl Future<Output = Result<Vec<Packet>, Error>> + Send + 'static {
        let req = self.request(Method::GET, Bytes::new());
        let client = self.client.clone();
        async move {
            let body = send(&client, req?).await?;
            payload::decode(&body, MAX_RESPONSE).map_err(Error::Payload)
        }
    }

    /// Writes a batch of packets (`POST`).
    pub(crate) fn post(
        &self,
        packets: &[Packet],
    ) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        let req = self.request(Method::POST, Bytes::from(payload::encode(packets)));
        let client = self.client.clone();
        let timeout = self.request_timeout;
        async move {
            let fut = send(&client, req?);
            match timeout {
                Some(t) => tokio::time::timeout(t, fut).await.map_err(|_| Error::Timeout)??,
                None => fut.await?,
            };
            Ok(())
        }
    }

    fn request(&self, method: Method, body: Bytes) -> Result<Request<Full<Bytes>>, Error> {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(&self.url)
            .body(Full::new(body))
            .map_err(Error::Request)?;
        req.headers_mut().extend(self.headers.clone());
        if method == Method::POST {
            req.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain;charset=UTF-8"));
        }
        Ok(req)
    }
}

/// The HTTP client: plain, or over TLS. Both pool their keep-alive connections. Boxed: a
/// client is several hundred bytes, and the connection's state holds one.
#[derive(Clone, Debug)]
enum Http {
    Plain(Box<Client<HttpConnector, Full<Bytes>>>),
    Tls(Box<Client<HttpsConnector<HttpConnector>, Full<Bytes>>>),
}

async fn send(client: &Http, req: Request<Full<Bytes>>) -> Result<Bytes, Error> {
    let res = match client {
        Http::Plain(c) => c.request(req).await,
        Http::Tls(c) => c.request(req).await,
    };
    let res = res.map_err(Error::Http)?;
    let status = res.status();
    let body = res.into_body().collect().await.map_err(Error::Body)?.to_bytes();
    if !status.is_success() {
        return Err(Error::Status { status, body: String::from_utf8_lossy(&body).into_owned() });
    }
    Ok(body)
}
