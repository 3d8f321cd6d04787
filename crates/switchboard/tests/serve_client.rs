//! `serve_client`: the browser client is served when on, and not when off.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use switchboard::{SocketIo, SocketIoConfig};
use tower_service::Service;

/// A `dist` directory with a fake client file, unique to this test process.
fn dist(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-dist-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("socket.io.js"), "/* client */").unwrap();
    dir
}

async fn get(io: &SocketIo, path: &str) -> (StatusCode, Bytes) {
    let req = Request::get(path).body(Empty::<Bytes>::new()).unwrap();
    let res = io.service().call(req).await.unwrap();
    let status = res.status();
    (status, res.into_body().collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn the_client_is_served_only_with_serve_client() {
    let mut config = SocketIoConfig::default();
    config.client_dist = Some(dist("on"));
    let io = SocketIo::new(config.clone());
    assert_eq!(
        get(&io, "/socket.io/socket.io.js").await,
        (StatusCode::OK, Bytes::from("/* client */"))
    );

    config.serve_client = false;
    let io = SocketIo::new(config);
    let (status, body) = get(&io, "/socket.io/socket.io.js").await;
    assert_ne!(status, StatusCode::OK);
    assert_ne!(body, Bytes::from("/* client */"));
}
