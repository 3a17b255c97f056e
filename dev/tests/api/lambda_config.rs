//! The functions' SDK configuration (`shared::aws::lambda_sdk_config`,
//! built from the environment Lambda sets, without aws-config's loader)
//! against the emulator: DynamoDB at `AWS_ENDPOINT_URL`, Secrets Manager at
//! its own `AWS_ENDPOINT_URL_SECRETS_MANAGER` (a counting proxy), SQS
//! through `shared::sqs::Queue`, all with the environment's credentials.

use std::collections::HashMap;

use crate::helpers::{aws_proxy, endpoint_or_explain};

#[tokio::test]
async fn when_a_function_is_configured_from_lambdas_environment_it_should_reach_every_service() {
    let endpoint = endpoint_or_explain();
    let proxy = aws_proxy(&endpoint).await;
    let env: HashMap<&str, String> = [
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_SESSION_TOKEN", "session".into()),
        ("AWS_ENDPOINT_URL", endpoint.clone()),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", proxy.url.clone()),
    ]
    .into_iter()
    .collect();
    let connector = shared::aws::https_connector();
    let sdk = shared::aws::lambda_sdk_config(connector.clone(), &|k| env.get(k).cloned());

    // DynamoDB: the global endpoint.
    let table = format!("lambda-config-{}", ulid::Ulid::new());
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    dynamodb
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("DynamoDB through AWS_ENDPOINT_URL");
    assert_eq!(
        proxy.count("CreateTable"),
        0,
        "DynamoDB does not go to the proxy"
    );

    // Secrets Manager: its own endpoint, the proxy.
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let arn = secrets
        .create_secret()
        .name(format!("lambda-config-{}", ulid::Ulid::new()))
        .secret_string("s3cret")
        .send()
        .await
        .expect("Secrets Manager through AWS_ENDPOINT_URL_SECRETS_MANAGER")
        .arn
        .unwrap();
    let got = secrets
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_string(), Some("s3cret"));
    assert_eq!(proxy.count("GetSecretValue"), 1, "went through the proxy");

    // SQS: shared::sqs over the same configuration and connector.
    let admin = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = crate::sqs::new_queue(&admin).await;
    let queue = shared::sqs::Queue::new(&sdk, connector).unwrap();
    assert_eq!(queue.url(), format!("{}/", endpoint.trim_end_matches('/')));
    queue.send(&queue_url, "configured").await.unwrap();
    assert_eq!(
        crate::sqs::received(&admin, &queue_url).await,
        ["configured"]
    );
}
