//! Media's HTTP connector (the `media` module's): reqwest (hyper's HTTP/1.1
//! client with its connection pool, rustls over *ring* configured by the
//! caller) behind the SDK's `HttpConnector` trait, its answers' bodies
//! streamed, so a medium is read with a size limit as it arrives. The AWS
//! calls go through the `h1` module's connector instead, which reads whole
//! (small) answers on the calling task. The SDK's own client
//! (`aws-smithy-http-client`) would bring a second instance of hyper's
//! client and, non-optionally, an HTTP/2 implementation (~0.26 MB of every
//! binary; BENCHMARKS.md, "Round 8").
//!
//! Errors are classified as the SDK's client does, so its retry policy
//! sees the same kinds: a timeout as a timeout; a refused or reset
//! connection, a DNS failure, a connection closed or cancelled before the
//! answer as I/O (retried); an answer cut short as a transient error;
//! anything else as other (not retried).

use std::error::Error as StdError;
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::Response as SdkResponse;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;

/// An `HttpConnector` over one reqwest client (its pool kept across
/// invocations).
#[derive(Clone, Debug)]
pub struct ReqwestConnector {
    client: reqwest::Client,
}

impl ReqwestConnector {
    /// A client trusting what `tls` trusts, with this connect timeout; no
    /// redirects (an AWS answer is never followed elsewhere), HTTP/1.1, and
    /// no proxy from `HTTP(S)_PROXY` (the SDK's own client uses none unless
    /// configured in code, and neither does this).
    pub fn new(
        tls: rustls::ClientConfig,
        connect_timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        Ok(Self { client })
    }

    /// As the SDK's connector type.
    pub fn shared(self) -> SharedHttpConnector {
        SharedHttpConnector::new(self)
    }
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let (parts, body) = request.into_parts();
        // The SDK's bodies here are in memory (JSON); a streaming one is
        // passed through as it is.
        let body = match body.bytes() {
            Some(bytes) => reqwest::Body::from(bytes.to_vec()),
            None => reqwest::Body::wrap(body),
        };
        let request = match reqwest::Request::try_from(http::Request::from_parts(parts, body)) {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let answer = self.client.execute(request);
        HttpConnectorFuture::new(async move {
            let response = answer.await.map_err(classify)?;
            let response = http::Response::<reqwest::Body>::from(response);
            SdkResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// The SDK client's classification of a failed exchange (see the module
/// docs).
fn classify(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        return ConnectorError::timeout(e.into());
    }
    if e.is_connect() {
        return ConnectorError::io(e.into());
    }
    if let Some(h) = find_source::<hyper::Error>(&e) {
        if h.is_timeout() {
            return ConnectorError::timeout(e.into());
        }
        if h.is_closed() || h.is_canceled() || find_source::<std::io::Error>(h).is_some() {
            return ConnectorError::io(e.into());
        }
        if h.is_incomplete_message() {
            return ConnectorError::other(e.into(), Some(ErrorKind::TransientError));
        }
        if h.is_user() {
            return ConnectorError::user(e.into());
        }
    }
    if find_source::<std::io::Error>(&e).is_some() {
        return ConnectorError::io(e.into());
    }
    ConnectorError::other(e.into(), None)
}

fn find_source<'a, E: StdError + 'static>(e: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn connector() -> ReqwestConnector {
        ReqwestConnector::new(
            crate::tls::aws_tls_config_with(None),
            Duration::from_secs(2),
        )
        .unwrap()
    }

    /// What the SDK's standard retry strategy retries.
    fn retryable(e: &ConnectorError) -> bool {
        e.is_io() || e.is_timeout() || e.as_other() == Some(ErrorKind::TransientError)
    }

    /// A server answering each connection's request with `answer` (then
    /// closing), or closing without a word when it is empty.
    async fn server(answer: &'static [u8]) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = tcp.read(&mut buf).await;
                let _ = tcp.write_all(answer).await;
            }
        });
        url
    }

    fn post(url: &str) -> HttpRequest {
        let request = http::Request::builder()
            .method("POST")
            .uri(url)
            .header("content-type", "application/x-amz-json-1.0")
            .header("content-length", "2")
            .body(SdkBody::from("{}"))
            .unwrap();
        HttpRequest::try_from(request).unwrap()
    }

    #[tokio::test]
    async fn an_answer_should_come_back_whole_with_its_status_and_headers() {
        let url = server(b"HTTP/1.1 500 Internal Server Error\r\nx-amzn-requestid: r1\r\ncontent-length: 7\r\nconnection: close\r\n\r\n{\"a\":1}").await;
        let response = connector().call(post(&url)).await.unwrap();
        assert_eq!(response.status().as_u16(), 500);
        assert_eq!(response.headers().get("x-amzn-requestid"), Some("r1"));
        let body = aws_smithy_types::byte_stream::ByteStream::new(response.into_body())
            .collect()
            .await
            .unwrap()
            .into_bytes();
        assert_eq!(&body[..], b"{\"a\":1}");
    }

    #[tokio::test]
    async fn a_refused_connection_should_be_an_io_error_the_sdk_retries() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        let e = connector().call(post(&url)).await.unwrap_err();
        assert!(e.is_io(), "{e:?}");
    }

    #[tokio::test]
    async fn a_connection_closed_before_the_answer_should_be_retried() {
        let url = server(b"").await;
        let e = connector().call(post(&url)).await.unwrap_err();
        assert!(retryable(&e), "{e:?}");
    }

    #[tokio::test]
    async fn an_answer_that_is_not_http_should_not_be_retried() {
        let url = server(b"SSH-2.0-OpenSSH_9.2\r\n\r\n").await;
        let e = connector().call(post(&url)).await.unwrap_err();
        assert!(!retryable(&e), "{e:?}");
    }
}
