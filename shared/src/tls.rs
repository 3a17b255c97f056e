//! The certificates this process trusts, for the AWS SDK and for reqwest
//! (Twilio, the booking directory) alike: Mozilla's root bundle compiled in
//! (`webpki-root-certs`), plus the PEM file named by `SSL_CERT_FILE` when it
//! is set (a private CA, a TLS-terminating proxy, the benchmark's stub).
//!
//! The platform store is not read: on a Lambda image it is ~150 files and
//! ~5 ms of CPU per cold start, more than one 128 MB CPU slice allows. Every
//! AWS endpoint chains to Amazon Trust Services roots and Twilio's to public
//! CAs, all in the bundle. `SSL_CERT_DIR` is not read.

/// Mozilla's roots as one PEM bundle (the form the SDK's trust store takes).
pub fn mozilla_roots_pem() -> Vec<u8> {
    use base64::Engine;
    let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS;
    let mut pem = Vec::with_capacity(roots.len() * 2_400);
    let mut b64 = String::with_capacity(4_096);
    for cert in roots {
        b64.clear();
        base64::engine::general_purpose::STANDARD.encode_string(cert.as_ref(), &mut b64);
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    pem
}

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
    #[test]
    fn when_the_bundle_is_encoded_it_should_hold_every_mozilla_root_as_pem() {
        let pem = super::mozilla_roots_pem();
        let text = std::str::from_utf8(&pem).unwrap();
        let n = webpki_root_certs::TLS_SERVER_ROOT_CERTS.len();
        assert!(n > 100, "{n}");
        assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), n);
        // Plus whatever `SSL_CERT_FILE` adds in this environment (CI
        // images often point it at the system bundle).
        let extra = super::extra_roots_pem()
            .map(|pem| reqwest::Certificate::from_pem_bundle(&pem).unwrap().len())
            .unwrap_or(0);
        assert_eq!(super::reqwest_roots().len(), n + extra);
    }
}
