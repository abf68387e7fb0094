//! TLS material: PEM files into rustls server and client configurations, on the ring provider.
//!
//! Both sides use rustls' safe defaults: TLS 1.2 and 1.3 only, its default cipher suites.
//! Errors name the file at fault and never include key material.

use super::SignalConfig;
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::io;
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// What the driver needs for TLS, each part absent when not configured.
pub(super) struct TlsSetup {
    /// For the TLS listeners.
    pub acceptor: Option<TlsAcceptor>,
    /// For dialling out; `None` without `tls_roots`.
    pub connector: Option<TlsConnector>,
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// The provider is named explicitly rather than taken from the process default, so that another
/// crate in the binary enabling aws-lc-rs cannot make rustls' builder panic over two defaults.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_certs(path: &Path, what: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let bad = |e: &dyn std::fmt::Display| invalid(format!("{what} {}: {e}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"no CERTIFICATE section found"));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> io::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        let reason = match e {
            rustls_pki_types::pem::Error::NoItemsFound => "no PRIVATE KEY section found".to_string(),
            // Display of the other variants names the problem, never the key's bytes.
            e => e.to_string(),
        };
        invalid(format!("tls_key {}: {reason}", path.display()))
    })
}

fn load_roots(path: &Path, what: &str) -> io::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path, what)? {
        roots.add(cert).map_err(|e| invalid(format!("{what} {}: {e}", path.display())))?;
    }
    Ok(roots)
}

/// Builds what `config` asks for: an acceptor if TLS listeners are configured, a connector if
/// `tls_roots` is set.
pub(super) fn setup(config: &SignalConfig) -> io::Result<TlsSetup> {
    let identity = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some((cert.as_path(), load_certs(cert, "tls_cert")?, load_key(key)?)),
        (None, None) => None,
        _ => return Err(invalid("tls_cert and tls_key must be given together".to_string())),
    };
    let versions = |e: rustls::Error| invalid(format!("TLS configuration: {e}"));

    let acceptor = if config.tls.is_empty() {
        None
    } else {
        let Some((cert_path, chain, key)) = identity.as_ref().map(|(p, c, k)| (*p, c.clone(), k.clone_key()))
        else {
            return Err(invalid("TLS listeners need tls_cert and tls_key".to_string()));
        };
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(versions)?;
        let builder = match &config.tls_client_ca {
            Some(path) => {
                let roots = load_roots(path, "tls_client_ca")?;
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| invalid(format!("tls_client_ca {}: {e}", path.display())))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let server = builder.with_single_cert(chain, key).map_err(|e| {
            invalid(format!("tls_key does not fit tls_cert {} or is unsupported: {e}", cert_path.display()))
        })?;
        Some(TlsAcceptor::from(Arc::new(server)))
    };

    let connector = match &config.tls_roots {
        None => None,
        Some(path) => {
            let roots = load_roots(path, "tls_roots")?;
            let builder = rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map_err(versions)?
                .with_root_certificates(roots);
            // Present our certificate when a server asks (mutual TLS between proxies, RFC 5923).
            let client = match identity {
                Some((cert_path, chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
                    invalid(format!(
                        "tls_key does not fit tls_cert {} or is unsupported: {e}",
                        cert_path.display()
                    ))
                })?,
                None => builder.with_no_client_auth(),
            };
            Some(TlsConnector::from(Arc::new(client)))
        }
    };
    Ok(TlsSetup { acceptor, connector })
}
