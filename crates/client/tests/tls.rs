//! The Engine.IO client over TLS (`https://`, `wss://`) against this workspace's Engine.IO
//! server behind a rustls acceptor, with a self-signed certificate made by the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use switchboard_client::engine::{
    EngineOptions, Error, Event, Message, Socket, TransportKind, tls_config_with_ca,
};
use switchboard_engine as server;

const WAIT: Duration = Duration::from_secs(10);

/// Echoes text; answers `transport?` with the transport.
struct Echo;

impl server::Handler for Echo {
    type Session = ();

    fn on_connect(&self, _socket: Arc<server::Socket>) {}

    fn on_message(&self, _: &mut (), socket: &Arc<server::Socket>, message: Message) {
        let reply = match &message {
            Message::Text(t) if t == "transport?" => {
                Message::Text(format!("transport {}", socket.transport().as_str()).into())
            }
            _ => message,
        };
        let _ = socket.send(reply);
    }

    fn on_disconnect(&self, _: (), _: &Arc<server::Socket>, _: server::DisconnectReason) {}
}

/// Serves an echo engine over TLS on 127.0.0.1 with a fresh self-signed certificate for
/// `127.0.0.1` and `localhost`; gives its port and the certificate (PEM).
async fn serve_tls() -> (u16, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("self-signed certificate");
    let pem = cert.cert.pem();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    #[allow(deprecated)] // The ring provider, as the client's default (see its tls module).
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert.cert.der().to_vec())], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let engine = server::Engine::new(Arc::new(Echo), server::EngineConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts until the test's runtime ends; each connection is served on a task of its own.
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, service) = (acceptor.clone(), engine.service());
            // One TLS connection: the handshake, then HTTP/1.1 with upgrades.
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service))
                    .with_upgrades()
                    .await;
            });
        }
    });
    (port, pem)
}

async fn next(socket: &mut Socket) -> Event {
    tokio::time::timeout(WAIT, async {
        loop {
            match socket.recv().await.expect("events ended") {
                Event::Upgrade(_) => {}
                other => return other,
            }
        }
    })
    .await
    .expect("no event in time")
}

async fn ask(socket: &mut Socket, text: &str) -> String {
    socket.send(Message::Text(text.into())).await.unwrap();
    match next(socket).await {
        Event::Message(Message::Text(t)) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

fn options(pem: &str, transports: &[TransportKind]) -> EngineOptions {
    let mut o = EngineOptions::default();
    o.transports = transports.to_vec();
    o.tls = Some(tls_config_with_ca(pem.as_bytes()).unwrap());
    o
}

#[tokio::test]
async fn each_transport_works_over_tls_with_a_given_ca() {
    let (port, pem) = serve_tls().await;
    for (url, transport) in [
        (format!("https://127.0.0.1:{port}"), TransportKind::Polling),
        (format!("wss://127.0.0.1:{port}"), TransportKind::WebSocket),
        (format!("https://localhost:{port}"), TransportKind::WebSocket),
    ] {
        let mut socket = Socket::connect(&url, options(&pem, &[transport])).await.unwrap();
        assert_eq!(ask(&mut socket, "héllo").await, "héllo", "{url}");
        let want = format!("transport {}", transport.name());
        assert_eq!(ask(&mut socket, "transport?").await, want, "{url}");
        socket.close().await;
    }
}

#[tokio::test]
async fn polling_upgrades_to_a_secure_websocket() {
    let (port, pem) = serve_tls().await;
    let both = [TransportKind::Polling, TransportKind::WebSocket];
    let mut socket =
        Socket::connect(&format!("https://127.0.0.1:{port}"), options(&pem, &both)).await.unwrap();
    let upgraded = tokio::time::timeout(WAIT, socket.recv()).await.unwrap();
    assert!(matches!(upgraded, Some(Event::Upgrade(TransportKind::WebSocket))), "{upgraded:?}");
    assert_eq!(ask(&mut socket, "transport?").await, "transport websocket");
}

#[tokio::test]
async fn a_certificate_nobody_vouches_for_is_refused() {
    let (port, _pem) = serve_tls().await;
    // Another self-signed certificate as the only root: the server's does not chain to it.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    for (url, transport) in [
        (format!("https://127.0.0.1:{port}"), TransportKind::Polling),
        (format!("wss://127.0.0.1:{port}"), TransportKind::WebSocket),
    ] {
        let err = Socket::connect(&url, options(&other.cert.pem(), &[transport])).await;
        assert!(matches!(err, Err(Error::Http(_) | Error::WebSocket(_))), "{url}: {err:?}");
    }
    // The platform's roots do not vouch for a self-signed certificate either (or there are
    // none, which is a typed error of its own).
    let mut platform = EngineOptions::default();
    platform.transports = vec![TransportKind::WebSocket];
    let err = Socket::connect(&format!("wss://127.0.0.1:{port}"), platform).await;
    assert!(matches!(err, Err(Error::WebSocket(_) | Error::Tls(_))), "{err:?}");
}
