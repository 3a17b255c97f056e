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
/// `SSL_CERT_FILE` (see `trust_store` in the `aws` module). Five roots instead
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

/// The same roots for a reqwest client (`ClientBuilder::tls_certs_only`).
/// A DER certificate as PEM (what the AWS SDK's trust store takes).
pub fn pem_of(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or(""));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

pub fn reqwest_roots() -> Vec<reqwest::Certificate> {
    let mut roots: Vec<reqwest::Certificate> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der.as_ref()).ok())
        .collect();
    if let Some(pem) = extra_roots_pem() {
        match reqwest::Certificate::from_pem_bundle(&pem) {
            Ok(extra) => roots.extend(extra),
            Err(e) => tracing::warn!(error = %e, "SSL_CERT_FILE is not a PEM bundle"),
        }
    }
    roots
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
        assert_eq!(
            reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .unwrap()
                .len(),
            5
        );
    }

    #[test]
    fn when_the_bundle_is_loaded_it_should_hold_every_mozilla_root() {
        let n = webpki_root_certs::TLS_SERVER_ROOT_CERTS.len();
        assert!(n > 100, "{n}");
        // Plus whatever `SSL_CERT_FILE` adds in this environment (CI
        // images often point it at the system bundle).
        let extra = super::extra_roots_pem()
            .map(|pem| reqwest::Certificate::from_pem_bundle(&pem).unwrap().len())
            .unwrap_or(0);
        assert_eq!(super::reqwest_roots().len(), n + extra);
    }
}
