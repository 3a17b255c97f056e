//! API Gateway's management API (`POST @connections/{id}`) over the AWS SDK.
//! The endpoint is the WebSocket stage's own URL (`WS_MANAGEMENT_URL`,
//! `https://{api}.execute-api.{region}.amazonaws.com/{stage}`); locally the
//! gateway of `make run` emulates it.

use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, SdkError};
use aws_sdk_apigatewaymanagement::primitives::Blob;

use crate::connections::{ConnectionSender, PostError};

#[derive(Clone, Debug)]
pub struct ManagementApi {
    client: Client,
}

impl ManagementApi {
    /// A client of the management endpoint at `endpoint`. The endpoint is
    /// set on the client itself, so `AWS_ENDPOINT_URL` (the local DynamoDB
    /// emulator) does not redirect it.
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint.trim_end_matches('/'))
            .build();
        Self {
            client: Client::from_conf(config),
        }
    }
}

impl ConnectionSender for ManagementApi {
    async fn post(&self, connection_id: &str, data: &[u8]) -> Result<(), PostError> {
        match self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(data))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(se)) if se.err().is_gone_exception() => Err(PostError::Gone),
            Err(SdkError::ServiceError(se)) if se.raw().status().as_u16() == 410 => {
                Err(PostError::Gone)
            }
            Err(e) => Err(PostError::Failed(DisplayErrorContext(&e).to_string())),
        }
    }
}
