//! TLS for `https://` and `wss://` URLs: rustls, with the platform's root certificates or the
//! CA an application gives.

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The platform has no root certificate this client could load (install the
    /// `ca-certificates` package, or give a CA with [`tls_config_with_ca`]).
    #[error("no root certificate could be loaded from the platform")]
    NoPlatformRoots,
    /// The CA given is not PEM, or holds no certificate.
    #[error("the CA is not a PEM certificate")]
    Pem(#[source] Option<rustls_pki_types::pem::Error>),
    /// rustls refused a certificate or the configuration.
    #[error("tls configuration refused")]
    Rustls(#[source] rustls::Error),
}

/// A TLS configuration trusting the platform's root certificates (what a browser on the same
/// machine trusts). This is what `https://` and `wss://` URLs use unless
/// [`EngineOptions::tls`](super::EngineOptions::tls) is set.
///
/// # Errors
/// [`TlsError::NoPlatformRoots`] when none could be loaded.
pub fn platform_tls_config() -> Result<Arc<ClientConfig>, TlsError> {
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
    if added == 0 {
        return Err(TlsError::NoPlatformRoots);
    }
    config(roots)
}

/// A TLS configuration trusting only the CA certificates of `pem` (a private CA, or a
/// server's self-signed certificate).
///
/// ```
/// use switchboard_client::engine::{EngineOptions, tls_config_with_ca};
///
/// # let pem = b"not a certificate";
/// let mut options = EngineOptions::default();
/// // let pem = std::fs::read("ca.pem")?;
/// match tls_config_with_ca(pem) {
///     Ok(config) => options.tls = Some(config),
///     Err(e) => eprintln!("bad CA: {e}"),
/// }
/// ```
///
/// # Errors
/// [`TlsError::Pem`] when `pem` holds no certificate, [`TlsError::Rustls`] when one is refused.
pub fn tls_config_with_ca(pem: &[u8]) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        roots.add(cert.map_err(|e| TlsError::Pem(Some(e)))?).map_err(TlsError::Rustls)?;
    }
    if roots.is_empty() {
        return Err(TlsError::Pem(None));
    }
    config(roots)
}

/// A configuration on the *ring* provider. rustls 0.23.48 deprecates it for lacking
/// post-quantum key exchange; it stays the default here because aws-lc-rs, the provider that
/// has it, builds a large C library (minutes on a small machine) for every user. An
/// application that wants it builds its own `ClientConfig` and sets `EngineOptions::tls`.
#[allow(deprecated)]
fn config(roots: RootCertStore) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Rustls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A configuration for tests that never connect.
    pub(crate) fn any_config() -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.extend(std::iter::empty());
        config(roots).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_ca_must_be_a_pem_certificate() {
        assert!(matches!(tls_config_with_ca(b""), Err(TlsError::Pem(None))));
        assert!(matches!(tls_config_with_ca(b"hello"), Err(TlsError::Pem(None))));
        let broken = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(matches!(tls_config_with_ca(broken), Err(TlsError::Pem(Some(_)))));
    }
}
