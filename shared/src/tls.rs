//! The certificates this process trusts. reqwest (Twilio, the booking
//! directory, Meta) trusts Mozilla's root bundle compiled in
//! (`webpki-root-certs`); the AWS SDK trusts the Amazon Trust Services roots
//! only ([`AMAZON_TRUST_SERVICES_PEM`]); both add the PEM file named by
//! `SSL_CERT_FILE` when it is set (a private CA, a TLS-terminating proxy,
//! the benchmark's stub).
//!
//! The platform store is not read: on a Lambda image it is ~150 files and
//! ~5 ms of CPU per cold start, more than one 128 MB CPU slice allows. Every
//! AWS endpoint chains to Amazon Trust Services roots and Twilio's to public
//! CAs, all in the bundle. `SSL_CERT_DIR` is not read.

/// The roots every AWS endpoint chains to (Amazon Trust Services: Amazon
/// Root CA 1-4 and Starfield Services Root CA - G2, each also in Mozilla's
/// bundle), as PEM: what the AWS SDK's connector trusts, with
/// `SSL_CERT_FILE` (see [`aws_tls_config_with`]). Five roots instead
/// of ~150 take the SDK's PEM parsing and root-store build out of the cold
/// start (~0.5 ms of CPU); an endpoint that chains elsewhere (a proxy, an
/// emulator over TLS) is trusted through `SSL_CERT_FILE`.
pub const AMAZON_TRUST_SERVICES_PEM: &str = include_str!("amazon-trust-services.pem");

/// The PEM file named by `SSL_CERT_FILE`, if set and readable (a file that
/// cannot be read is logged and skipped: the bundle still applies).
pub fn extra_roots_pem() -> Option<Vec<u8>> {
    let path = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty())?;
    match std::fs::read(&path) {
        Ok(pem) => Some(pem),
        Err(e) => {
            tracing::warn!(path = ?path, error = %e, "SSL_CERT_FILE not read");
            None
        }
    }
}

include!(concat!(env!("OUT_DIR"), "/mozilla_anchors.rs"));

/// The TLS configuration of every reqwest client (Twilio, Meta, the booking
/// directory), for `ClientBuilder::tls_backend_preconfigured`: rustls over
/// *ring* (as the AWS SDK's connector does, [`aws_tls_config_with`])
/// trusting Mozilla's roots as `webpki-root-certs` ships them, parsed into
/// trust anchors at build time (`shared/build.rs`), plus `SSL_CERT_FILE`.
/// Handing reqwest the ~150 certificates to parse instead cost ~1 ms of CPU
/// on the first call to Twilio (BENCHMARKS.md, "Round 6").
pub fn public_tls_config() -> rustls::ClientConfig {
    public_tls_config_with(extra_roots_pem().as_deref())
}

/// [`public_tls_config`] with these extra roots (PEM) instead of
/// `SSL_CERT_FILE`'s.
pub fn public_tls_config_with(extra_roots_pem: Option<&[u8]>) -> rustls::ClientConfig {
    let roots = rustls::RootCertStore {
        roots: MOZILLA_ANCHORS.to_vec(),
    };
    config_with(roots, extra_roots_pem)
}

/// The TLS configuration of the AWS SDK's connector (see the `aws` module):
/// the Amazon Trust Services roots ([`AMAZON_TRUST_SERVICES_PEM`]) and
/// `extra_roots_pem` (`SSL_CERT_FILE`'s, in a function).
pub fn aws_tls_config_with(extra_roots_pem: Option<&[u8]>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    add_pem(&mut roots, AMAZON_TRUST_SERVICES_PEM.as_bytes());
    config_with(roots, extra_roots_pem)
}

fn add_pem(roots: &mut rustls::RootCertStore, pem: &[u8]) -> (usize, usize) {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    roots.add_parsable_certificates(CertificateDer::pem_slice_iter(pem).flatten())
}

fn config_with(
    mut roots: rustls::RootCertStore,
    extra_roots_pem: Option<&[u8]>,
) -> rustls::ClientConfig {
    if let Some(pem) = extra_roots_pem {
        let (added, ignored) = add_pem(&mut roots, pem);
        if added == 0 || ignored > 0 {
            tracing::warn!(
                added,
                ignored,
                "SSL_CERT_FILE: certificates not usable as roots"
            );
        }
    }
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(crypto_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// The cryptography of every TLS connection this process makes: rustls's
/// *ring* provider (X25519, P-256 and P-384 key exchange; AES-GCM and
/// ChaCha20-Poly1305; ECDSA, RSA and Ed25519 signatures), the one the AWS
/// SDK's connector uses too (`crate::https`). Chosen over
/// aws-lc, the SDK's default, for size and cold-start CPU (BENCHMARKS.md,
/// "Round 8"); what it gives up is the post-quantum hybrid key exchange
/// (X25519MLKEM768) aws-lc offers AWS endpoints first.
pub fn crypto_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    #[test]
    fn the_aws_roots_should_be_the_five_amazon_trust_services_roots_of_the_mozilla_bundle() {
        let pem = super::AMAZON_TRUST_SERVICES_PEM;
        let ders: Vec<Vec<u8>> = pem
            .split("-----BEGIN CERTIFICATE-----")
            .skip(1)
            .map(|block| {
                let b64: String = block
                    .split("-----END CERTIFICATE-----")
                    .next()
                    .unwrap()
                    .split_whitespace()
                    .collect();
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap()
            })
            .collect();
        assert_eq!(ders.len(), 5);
        for der in &ders {
            assert!(
                webpki_root_certs::TLS_SERVER_ROOT_CERTS
                    .iter()
                    .any(|root| root.as_ref() == der.as_slice()),
                "not a Mozilla root"
            );
        }
        let mut store = rustls::RootCertStore::empty();
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        let (added, ignored) = store
            .add_parsable_certificates(CertificateDer::pem_slice_iter(pem.as_bytes()).flatten());
        assert_eq!((added, ignored), (5, 0));
    }

    #[test]
    fn the_build_time_anchors_should_be_the_mozilla_bundle() {
        // reqwest and media trust the anchors build.rs made of the bundle's
        // certificates: the same roots.
        let certs = webpki_root_certs::TLS_SERVER_ROOT_CERTS;
        assert!(certs.len() > 100, "{}", certs.len());
        let mut parsed = rustls::RootCertStore::empty();
        let (added, ignored) = parsed.add_parsable_certificates(certs.iter().cloned());
        assert_eq!((added, ignored), (certs.len(), 0));
        assert_eq!(parsed.roots, super::MOZILLA_ANCHORS);
    }
}

#[cfg(test)]
mod config_tests {
    #[test]
    fn reqwest_should_take_the_config_as_its_own_rustls() {
        let config = super::public_tls_config();
        // A rustls of another version than reqwest's would make `build`
        // fail ("unknown TLS backend"). Handshakes through this config are
        // in shared/tests/tls.rs and bench/lambda.py's send-message run (HTTPS stand-in
        // trusted through SSL_CERT_FILE).
        reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .build()
            .expect("reqwest takes the rustls config");
    }
}
