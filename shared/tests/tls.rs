//! Real TLS handshakes through the process's two HTTPS clients (the AWS SDK's
//! connector, `shared::aws`, and reqwest's configuration, `shared::tls`),
//! both on rustls's *ring* provider, against a local HTTPS server whose
//! throw-away certificate is trusted only when handed to them as an extra
//! root (what `SSL_CERT_FILE` does in a function).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use rcgen::{CertificateParams, KeyPair, SignatureAlgorithm};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the server saw of one handshake.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    version: Option<rustls::ProtocolVersion>,
    group: Option<rustls::NamedGroup>,
}

struct Server {
    addr: SocketAddr,
    root_pem: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// An HTTPS server for `localhost` with a fresh self-signed certificate of
/// `alg`, answering every request `200 ok` and closing.
async fn server(alg: &'static SignatureAlgorithm) -> Server {
    let key = KeyPair::generate_for(alg).unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let log = log.clone();
            tokio::spawn(async move {
                // A refused handshake (an untrusted certificate) ends here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let (_, conn) = tls.get_ref();
                log.lock().unwrap().push(Seen {
                    version: conn.protocol_version(),
                    group: conn.negotiated_key_exchange_group().map(|g| g.name()),
                });
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    Server {
        addr,
        root_pem: cert.pem(),
        seen,
    }
}

impl Server {
    fn url(&self) -> String {
        format!("https://localhost:{}/", self.addr.port())
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

const TLS13_X25519: Seen = Seen {
    version: Some(rustls::ProtocolVersion::TLSv1_3),
    group: Some(rustls::NamedGroup::X25519),
};

async fn reqwest_get(config: rustls::ClientConfig, url: &str) -> Result<String, reqwest::Error> {
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .build()?;
    let response = client.get(url).send().await?;
    assert_eq!(response.status(), 200);
    response.text().await
}

async fn sdk_get(extra_roots_pem: Option<&[u8]>, url: &str) -> Result<u16, String> {
    let connector = shared::aws::https_connector_with(extra_roots_pem);
    let request = HttpRequest::get(url).map_err(|e| e.to_string())?;
    connector
        .call(request)
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("{e:?}"))
}

#[tokio::test]
async fn reqwest_should_complete_a_tls13_x25519_handshake_with_a_trusted_root_only() {
    for alg in [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &rcgen::PKCS_ED25519,
    ] {
        let server = server(alg).await;
        let body = reqwest_get(
            shared::tls::public_tls_config_with(Some(server.root_pem.as_bytes())),
            &server.url(),
        )
        .await
        .unwrap_or_else(|e| panic!("{alg:?}: {e:?}"));
        assert_eq!(body, "ok");
        assert_eq!(server.seen(), vec![TLS13_X25519], "{alg:?}");

        // Mozilla's roots alone do not vouch for it: no handshake completes.
        let refused = reqwest_get(shared::tls::public_tls_config_with(None), &server.url()).await;
        let err = format!("{:?}", refused.expect_err("an untrusted certificate"));
        assert!(err.contains("UnknownIssuer"), "{alg:?}: {err}");
        assert_eq!(server.seen().len(), 1, "{alg:?}");
    }
}

#[tokio::test]
async fn the_aws_connector_should_complete_a_tls13_x25519_handshake_with_a_trusted_root_only() {
    for alg in [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
    ] {
        let server = server(alg).await;
        let status = sdk_get(Some(server.root_pem.as_bytes()), &server.url())
            .await
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(status, 200);
        assert_eq!(server.seen(), vec![TLS13_X25519], "{alg:?}");

        // The Amazon Trust Services roots alone do not vouch for it.
        let err = sdk_get(None, &server.url())
            .await
            .expect_err("an untrusted certificate");
        assert!(err.contains("UnknownIssuer"), "{alg:?}: {err}");
        assert_eq!(server.seen().len(), 1, "{alg:?}");
    }
}
