//! HTTPS and WSS without a proxy in front: `--tls-cert` and `--tls-key` (PEM files).
//!
//! The TCP accept loop never waits on a TLS handshake: each handshake runs in its own task
//! with a deadline, and only finished handshakes reach the HTTP server through a channel. A
//! client that opens a connection and says nothing costs one task until the deadline, not the
//! whole listener.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);

/// Finished handshakes waiting for the HTTP server; a small buffer is enough, as the server
/// takes them as fast as it spawns connection tasks.
const READY_QUEUE: usize = 64;

/// Reads the certificate chain and the private key; every problem is one clear line.
pub(crate) fn server_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read the TLS certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("the TLS certificate {} is not valid PEM", cert.display()))?;
    if chain.is_empty() {
        bail!("the TLS certificate {} holds no CERTIFICATE block", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read a private key from {}", key.display()))?;
    // rustls 0.23.48 deprecates *ring* for lacking post-quantum key exchange; it stays, as in
    // the client, because aws-lc-rs (the provider that has it) needs cmake and a C build.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("the TLS provider offers no protocol version")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the TLS certificate and key do not form a usable pair")?;
    // The server speaks HTTP/1.1 only (WebSocket upgrades ride on it).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener that hands the HTTP server TLS streams whose handshake is done.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `listener`; the accept task ends when this listener is dropped.
    pub(crate) fn new(listener: TcpListener, config: Arc<ServerConfig>) -> io::Result<Self> {
        let local = listener.local_addr()?;
        // Handshake tasks → the HTTP server. The accept task and each handshake task hold a
        // sender; the receiver is the listener's, and dropping it ends the accept task.
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        // The accept loop: owns the TCP listener, ends when the server drops the receiver.
        tokio::spawn(accept_loop(listener, TlsAcceptor::from(config), tx));
        Ok(Self { ready, local })
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little, as axum does.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = ready.closed() => return,
        };
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        // One handshake: ends at its deadline, or hands its stream to the server.
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_LIMIT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let _ = ready.send((stream, peer)).await;
                }
                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// The client's address, as the HTTP server hands it to each connection (a type of our own,
/// so that it can be read off both listeners).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub(crate) SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(pair) => pair,
            // The accept task only ends once this receiver is gone, so this is unreachable in
            // practice; waiting forever is what a listener with nothing to accept does.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn bad_files_are_one_clear_error() {
        let dir = std::env::temp_dir().join(format!("sb-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let err = server_config(&missing, &missing).unwrap_err();
        assert!(format!("{err:#}").contains("cannot read the TLS certificate"), "{err:#}");

        let empty = write(&dir, "empty.pem", "");
        let err = server_config(&empty, &empty).unwrap_err();
        assert!(format!("{err:#}").contains("holds no CERTIFICATE block"), "{err:#}");

        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert_pem = write(&dir, "cert.pem", &cert.cert.pem());
        let err = server_config(&cert_pem, &cert_pem).unwrap_err();
        assert!(format!("{err:#}").contains("cannot read a private key"), "{err:#}");

        let key_pem = write(&dir, "key.pem", &cert.signing_key.serialize_pem());
        server_config(&cert_pem, &key_pem).unwrap();

        let other = rcgen::generate_simple_self_signed(vec!["other".to_owned()]).unwrap();
        let other_key = write(&dir, "other-key.pem", &other.signing_key.serialize_pem());
        let err = server_config(&cert_pem, &other_key).unwrap_err();
        assert!(format!("{err:#}").contains("do not form a usable pair"), "{err:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
