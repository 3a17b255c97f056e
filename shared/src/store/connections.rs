//! WebSocket connection items.
//!
//! | item       | PK                 | SK        | GSI1PK / GSI1SK                      | GSI2PK / GSI2SK |
//! |------------|--------------------|-----------|--------------------------------------|-----------------|
//! | connection | `WSCONN#<conn id>` | `#WSCONN` | `WS#USER#<user>` / `<connected>#<id>` | agents: `WS#ORG#<org>#AGENTS` / `<connected>#<id>` |
//!
//! `$disconnect` and a `410 Gone` delete by connection id (one DeleteItem);
//! "every connection of user U" is one Query on GSI1 and "every connection
//! of org O's agents" one Query on GSI2, both answered from the index keys
//! alone (the table key carries the connection id). `expires_at` (connect
//! time + 2 h, API Gateway's limit) lets DynamoDB's TTL remove what a lost
//! `$disconnect` left behind.

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::*;
use super::{GSI1, Store, StoreError, sdk_err};
use crate::auth::UserType;
use crate::connections::{Connection, ConnectionStore};

const CONN_SK: &str = "#WSCONN";
const GSI2: &str = "GSI2";

fn conn_key(id: &str) -> Item {
    key(format!("WSCONN#{id}"), CONN_SK)
}

pub fn user_connections_pk(user: &str) -> String {
    format!("WS#USER#{user}")
}

pub fn org_agents_pk(org: &str) -> String {
    format!("WS#ORG#{org}#AGENTS")
}

fn connection_item(c: &Connection) -> Item {
    let mut i = conn_key(&c.id);
    let sort = format!("{}#{}", c.connected_at, c.id);
    i.insert("connection_id".into(), s(&c.id));
    i.insert("user_id".into(), s(&c.user_id));
    i.insert("user_type".into(), s(c.user_type.as_str()));
    opt_s(&mut i, "org_id", &c.org_id);
    i.insert("connected_at".into(), s(&c.connected_at));
    i.insert("expires_at".into(), n(c.expires_at));
    i.insert("GSI1PK".into(), s(user_connections_pk(&c.user_id)));
    i.insert("GSI1SK".into(), s(sort.clone()));
    if let (true, Some(org)) = (c.user_type == UserType::Agent, &c.org_id) {
        i.insert("GSI2PK".into(), s(org_agents_pk(org)));
        i.insert("GSI2SK".into(), s(sort));
    }
    i
}

impl Store {
    /// Every connection id under one index partition (all pages).
    async fn connection_ids(
        &self,
        index: &str,
        pk_attr: &str,
        pk: String,
    ) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", pk_attr)
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_err)?;
            ids.extend(out.items().iter().filter_map(|i| {
                get_s(i, "PK").and_then(|pk| pk.strip_prefix("WSCONN#").map(str::to_string))
            }));
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(ids);
            }
        }
    }
}

impl ConnectionStore for Store {
    async fn put_connection(&self, c: &Connection) -> Result<(), StoreError> {
        self.put_item(connection_item(c)).await
    }

    async fn delete_connection(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(conn_key(id)))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn user_connections(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        self.connection_ids(GSI1, "GSI1PK", user_connections_pk(user_id))
            .await
    }

    async fn org_agent_connections(&self, org_id: &str) -> Result<Vec<String>, StoreError> {
        self.connection_ids(GSI2, "GSI2PK", org_agents_pk(org_id))
            .await
    }
}
