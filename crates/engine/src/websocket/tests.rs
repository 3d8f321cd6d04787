//! The upgrade request's checks: header token lists and the protocol version.
#![allow(clippy::unwrap_used)]

use http::{Request, StatusCode, header};

use super::{accept, is_upgrade};
use crate::error::RequestError;

fn request(headers: &[(&str, &str)]) -> Request<()> {
    let mut builder = Request::get("/engine.io/?EIO=4&transport=websocket");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap()
}

#[test]
fn connection_and_upgrade_are_token_lists() {
    let yes: &[&[(&str, &str)]] = &[
        &[("connection", "Upgrade"), ("upgrade", "websocket")],
        &[("connection", "keep-alive, Upgrade"), ("upgrade", "WebSocket")],
        &[("connection", "keep-alive"), ("connection", " upgrade "), ("upgrade", "websocket")],
        &[("connection", "Upgrade"), ("upgrade", "h2c, websocket")],
        &[("connection", "Upgrade"), ("upgrade", "foo"), ("upgrade", "websocket")],
    ];
    for headers in yes {
        assert!(is_upgrade(&request(headers)), "{headers:?}");
    }
    let no: &[&[(&str, &str)]] = &[
        &[("upgrade", "websocket")],
        &[("connection", "Upgrade")],
        &[("connection", "upgraded"), ("upgrade", "websocket")],
        &[("connection", "Upgrade"), ("upgrade", "websocket2")],
        &[("connection", "Upgrade"), ("upgrade", "websocket/13")],
        &[("connection", "keep-alive"), ("upgrade", "websocket")],
    ];
    for headers in no {
        assert!(!is_upgrade(&request(headers)), "{headers:?}");
    }
}

#[test]
fn a_version_other_than_13_gets_426_naming_13() {
    let base = [
        ("connection", "Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    for version in [None, Some("8"), Some("12"), Some("14"), Some("13, 8"), Some("")] {
        let mut headers = base.to_vec();
        headers.extend(version.map(|v| ("sec-websocket-version", v)));
        let error = accept(&mut request(&headers), None).err();
        assert_eq!(error, Some(RequestError::UnsupportedWebSocketVersion), "{version:?}");
        let res = RequestError::UnsupportedWebSocketVersion.response();
        assert_eq!(res.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(
            res.headers().get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()),
            Some(&b"13"[..])
        );
    }
    let mut headers = base.to_vec();
    headers.push(("sec-websocket-version", "13"));
    let (res, _) = accept(&mut request(&headers), None).unwrap();
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(
        res.headers().get(header::SEC_WEBSOCKET_ACCEPT).map(|v| v.as_bytes()),
        Some(&b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="[..])
    );
    // A missing key is still a plain bad request.
    let mut headers = base[..2].to_vec();
    headers.push(("sec-websocket-version", "13"));
    assert_eq!(accept(&mut request(&headers), None).err(), Some(RequestError::BadRequest));
}
