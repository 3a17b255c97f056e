//! Create the table (and later the queues) on the local emulator from the
//! template's own resource definitions.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};

use crate::template::{KeyElem, TableDef};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn key_schema(keys: &[KeyElem]) -> Result<Vec<KeySchemaElement>, BoxError> {
    keys.iter()
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(&k.name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()?)
        })
        .collect()
}

/// Create `name` from `def` unless it exists. Returns whether it was created.
pub async fn ensure_table(client: &Client, name: &str, def: &TableDef) -> Result<bool, BoxError> {
    if client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .is_ok()
    {
        return Ok(false);
    }
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&def.keys)?));
    for (attr, ty) in &def.attributes {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attr)
                .attribute_type(ScalarAttributeType::from(ty.as_str()))
                .build()?,
        );
    }
    for idx in &def.indexes {
        let projection = Projection::builder()
            .projection_type(ProjectionType::from(idx.projection_type.as_str()))
            .set_non_key_attributes(
                (!idx.non_key_attributes.is_empty()).then(|| idx.non_key_attributes.clone()),
            )
            .build();
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&idx.name)
                .set_key_schema(Some(key_schema(&idx.keys)?))
                .projection(projection)
                .build()?,
        );
    }
    if let Some(view) = &def.stream_view_type {
        req = req.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(view.as_str()))
                .build()?,
        );
    }
    req.send().await?;
    if let Some(attr) = &def.ttl_attribute {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attr)
                    .enabled(true)
                    .build()?,
            )
            .send()
            .await?;
    }
    Ok(true)
}

/// Create the template's queues on the emulator, named `<prefix>-<logical
/// id>`, dead-letter queues first and redrive policies wired. Returns
/// logical id → queue URL.
pub async fn ensure_queues(
    client: &aws_sdk_sqs::Client,
    prefix: &str,
    queues: &[crate::template::QueueDef],
) -> Result<std::collections::HashMap<String, String>, BoxError> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let mut urls = std::collections::HashMap::new();
    let mut arns = std::collections::HashMap::new();
    for q in queues {
        let mut req = client
            .create_queue()
            .queue_name(format!("{prefix}-{}", q.logical_id));
        if let Some(v) = q.visibility_timeout {
            req = req.attributes(QueueAttributeName::VisibilityTimeout, v.to_string());
        }
        if let Some(r) = q.retention {
            req = req.attributes(QueueAttributeName::MessageRetentionPeriod, r.to_string());
        }
        if let Some((dlq, max)) = &q.redrive {
            let arn: &String = arns
                .get(dlq)
                .ok_or_else(|| format!("dead-letter queue {dlq} not created first"))?;
            req = req.attributes(
                QueueAttributeName::RedrivePolicy,
                serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max.to_string()})
                    .to_string(),
            );
        }
        let url = req
            .send()
            .await?
            .queue_url
            .ok_or("create_queue returned no URL")?;
        let attrs = client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await?;
        if let Some(arn) = attrs
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        {
            arns.insert(q.logical_id.clone(), arn);
        }
        urls.insert(q.logical_id.clone(), url);
    }
    Ok(urls)
}
