//! Small helpers to read and write DynamoDB items by hand.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

use super::StoreError;
use crate::dynamo::AttrList;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn b(v: bool) -> AttributeValue {
    AttributeValue::Bool(v)
}

pub fn opt_s(item: &mut Item, k: &str, v: &Option<String>) {
    if let Some(v) = v {
        item.insert(k.into(), s(v.clone()));
    }
}

pub fn get_s(item: &Item, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

pub fn req_s(item: &Item, k: &str) -> Result<String, StoreError> {
    get_s(item, k).ok_or_else(|| missing_s(k))
}

/// What a required string attribute's absence is: a corrupt item.
pub fn missing_s(k: &str) -> StoreError {
    StoreError::Corrupt(format!("missing string attribute {k}"))
}

/// [`get_s`] for an item about to be dropped: the string is moved out,
/// not copied (the attribute is gone from `item` afterwards, whatever its
/// type).
pub fn take_s(item: &mut Item, k: &str) -> Option<String> {
    match item.remove(k) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

pub fn get_n(item: &Item, k: &str) -> Option<i64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

pub fn get_bool(item: &Item, k: &str) -> Option<bool> {
    item.get(k).and_then(|v| v.as_bool().ok()).copied()
}

pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("PK".to_string(), s(pk)), ("SK".to_string(), s(sk))])
}

/// [`key`] for a transaction's write: a list, nothing hashed.
pub fn tx_key(pk: impl Into<String>, sk: impl Into<String>) -> AttrList<'static> {
    vec![("PK".into(), s(pk)), ("SK".into(), s(sk))]
}

/// A key of string attributes, for cursors.
pub fn to_cursor_key(item: &Item) -> crate::cursor::Key {
    item.iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|v| (k.clone(), v.clone())))
        .collect()
}

pub fn from_cursor_key(key: &crate::cursor::Key) -> Item {
    key.iter().map(|(k, v)| (k.clone(), s(v.clone()))).collect()
}
