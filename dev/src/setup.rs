//! Create the table (and later the queues) on the local emulator from the
//! template's own resource definitions.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
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
