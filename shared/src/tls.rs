//! The TLS configuration of every HTTPS client in the archive (Altinn, Maskinporten, and the AWS
//! SDK through `lambda_support::http`): rustls on aws-lc-rs, trusting Mozilla's root
//! certificates compiled into the binary (`webpki-roots`), plus the PEM bundle named by
//! `SSL_CERT_FILE` when that variable is set (a private CA, a TLS-inspecting proxy).
//!
//! Why not the system store: loading it means reading and parsing every file of
//! `/etc/ssl/certs`, which was ~80 % of the webhook's cold start, and the SDK and reqwest each
//! did it once (`make bench`, callgrind). The compiled-in roots are already parsed trust anchors,
//! so building this configuration costs next to nothing. Altinn, Maskinporten and AWS endpoints
//! all chain to roots in Mozilla's programme; Lambda's own store is derived from it too.

use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The variable naming an extra PEM bundle to trust (the OpenSSL convention).
pub const EXTRA_ROOTS_VARIABLE: &str = "SSL_CERT_FILE";

/// The HTTP versions a client offers in ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// HTTP/1.1 only (the AWS SDK: S3 speaks nothing else, and one stream per connection
    /// suits large uploads).
    Http1,
    /// HTTP/2, falling back to HTTP/1.1.
    Http2OrHttp1,
}

/// Why the TLS configuration could not be built. Names the file, never its content.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{variable}={path}: {reason}")]
    ExtraRoots {
        variable: &'static str,
        path: String,
        reason: String,
    },
    #[error("the HTTPS client could not be built: {0}")]
    Config(String),
}

/// A client configuration for `alpn`, built on the process-wide root store (see the module
/// docs); `SSL_CERT_FILE` is read once per process.
pub fn client_config(alpn: Alpn) -> Result<rustls::ClientConfig, TlsError> {
    let roots = shared_roots()?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = match alpn {
        Alpn::Http1 => vec![b"http/1.1".to_vec()],
        Alpn::Http2OrHttp1 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    };
    Ok(config)
}

fn shared_roots() -> Result<Arc<RootCertStore>, TlsError> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    let extra = std::env::var_os(EXTRA_ROOTS_VARIABLE).map(std::path::PathBuf::from);
    ROOTS
        .get_or_init(|| root_store(extra.as_deref()).map(Arc::new))
        .clone()
        .map_err(|reason| TlsError::ExtraRoots {
            variable: EXTRA_ROOTS_VARIABLE,
            path: extra.map(|p| p.display().to_string()).unwrap_or_default(),
            reason,
        })
}

/// Mozilla's roots, plus every certificate in the PEM file `extra` when given. A named file
/// that cannot be read or holds no certificate is an error: trusting less than the operator
/// asked for would only show up later as failed handshakes.
pub fn root_store(extra: Option<&std::path::Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = extra {
        let certificates = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("not a readable PEM file ({e})"))?;
        let (added, _unusable) = roots.add_parsable_certificates(certificates);
        if added == 0 {
            return Err("no usable certificate in the file".to_owned());
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_in_roots_need_no_file() {
        let roots = root_store(None).unwrap();
        assert!(roots.len() > 100, "{} roots", roots.len());
    }

    #[test]
    fn an_extra_bundle_adds_its_certificates() {
        let dir = std::env::temp_dir().join(format!("tls-extra-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ca.pem");
        std::fs::write(&path, TEST_CA_PEM).unwrap();
        let with_extra = root_store(Some(&path)).unwrap();
        assert_eq!(with_extra.len(), root_store(None).unwrap().len() + 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_named_bundle_that_is_missing_or_empty_is_an_error() {
        let missing = root_store(Some(std::path::Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(missing.contains("not a readable PEM file"), "{missing}");
        let dir = std::env::temp_dir().join(format!("tls-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "no certificates here\n").unwrap();
        let empty = root_store(Some(&path)).unwrap_err();
        assert!(empty.contains("no usable certificate"), "{empty}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn alpn_follows_the_requested_versions() {
        let http1 = client_config(Alpn::Http1).unwrap();
        assert_eq!(http1.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let both = client_config(Alpn::Http2OrHttp1).unwrap();
        assert_eq!(both.alpn_protocols[0], b"h2".to_vec());
    }

    /// A self-signed certificate: the simulator's test client certificate.
    const TEST_CA_PEM: &str = altinn_sim::TEST_CLIENT_CERT_PEM;
}
