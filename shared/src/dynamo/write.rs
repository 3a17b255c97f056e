//! `TransactWriteItems`' request written by hand: the largest request on
//! the message paths (a stored message, its SID claim and the conversation's
//! update, ~4 KB), where serde_json's serializer spent more instructions
//! per byte than anything else in process-inbound (a call into the writer
//! per quote, key and value; BENCHMARKS.md, "Round 14"). The JSON is what
//! the serde form it replaced wrote, field for field (items and values as
//! `Attrs` and `Av` still write them for the other requests); the
//! request-equality tests compare it with the SDK's for the same writes.
//! The writes are the store's own [`TxWrite`]s, not the SDK's
//! `TransactWriteItem`s (round 18).

use std::borrow::Cow;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;

use super::{B64, Item};

/// Attribute names and values in the order they are written: an item, a
/// key or an expression's values. Names are borrowed where they are
/// literals; nothing is hashed. A name must appear once (see
/// [`TxWrite`]).
pub type AttrList<'a> = Vec<(Cow<'a, str>, AttributeValue)>;

/// Which of `TransactWriteItems`' four writes a [`TxWrite`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxKind {
    Put,
    Update,
    Delete,
    ConditionCheck,
}

impl TxKind {
    fn as_str(self) -> &'static str {
        match self {
            TxKind::Put => "Put",
            TxKind::Update => "Update",
            TxKind::Delete => "Delete",
            TxKind::ConditionCheck => "ConditionCheck",
        }
    }
}

/// One write of a `TransactWriteItems`, field for field what the SDK's
/// `TransactWriteItem` holds, without its maps: attribute names are not
/// copied into `String`s nor hashed, and a write's fields are borrowed
/// from the store's table name and its expressions (BENCHMARKS.md, round
/// 18). The body refuses a write with a name twice in one map, which the
/// SDK's maps could not hold.
#[derive(Clone, Debug, PartialEq)]
pub struct TxWrite<'a> {
    pub kind: TxKind,
    pub table: &'a str,
    /// A Put's item; the others' key.
    pub attrs: AttrList<'a>,
    /// An Update's expression.
    pub update: Option<Cow<'a, str>>,
    /// The condition (a ConditionCheck must have one).
    pub condition: Option<Cow<'a, str>>,
    /// `#placeholder` to attribute name.
    pub names: Vec<(&'a str, &'a str)>,
    pub values: AttrList<'a>,
    /// `ReturnValuesOnConditionCheckFailure: ALL_OLD`.
    pub return_old: bool,
}

impl<'a> TxWrite<'a> {
    /// A write of `kind` to `table` with only its item or key.
    pub fn new(kind: TxKind, table: &'a str, attrs: AttrList<'a>) -> Self {
        Self {
            kind,
            table,
            attrs,
            update: None,
            condition: None,
            names: Vec::new(),
            values: Vec::new(),
            return_old: false,
        }
    }
}

/// A map item (the SDK's form) as [`AttrList`], its names moved.
pub fn attrs_of(item: Item) -> AttrList<'static> {
    item.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect()
}

/// The request body of `TransactWriteItems` for `items` and `token`.
pub(super) fn transact_body(items: &[TxWrite<'_>], token: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(b"{\"TransactItems\":[");
    for (i, t) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        tx_item(&mut out, t)?;
    }
    out.extend_from_slice(b"],\"ClientRequestToken\":");
    string(&mut out, token);
    out.push(b'}');
    Ok(out)
}

fn tx_item(out: &mut Vec<u8>, t: &TxWrite<'_>) -> Result<(), String> {
    match (t.kind, &t.update, &t.condition) {
        (TxKind::Update, None, _) => return Err("an Update without an expression".into()),
        (TxKind::ConditionCheck, _, None) => {
            return Err("a ConditionCheck without a condition".into());
        }
        (TxKind::Put | TxKind::Delete | TxKind::ConditionCheck, Some(_), _) => {
            return Err(format!("a {} with an update expression", t.kind.as_str()));
        }
        _ => {}
    }
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(t.kind.as_str().as_bytes());
    out.extend_from_slice(b"\":{");
    out.extend_from_slice(if t.kind == TxKind::Put {
        b"\"Item\":"
    } else {
        b"\"Key\":"
    });
    attrs(out, &t.attrs)?;
    out.extend_from_slice(b",\"TableName\":");
    string(out, t.table);
    if let Some(e) = &t.update {
        out.extend_from_slice(b",\"UpdateExpression\":");
        string(out, e);
    }
    if let Some(e) = &t.condition {
        out.extend_from_slice(b",\"ConditionExpression\":");
        string(out, e);
    }
    if !t.names.is_empty() {
        if let Some(k) = twice(t.names.iter().map(|(k, _)| *k)) {
            return Err(format!("the placeholder {k} twice"));
        }
        out.extend_from_slice(b",\"ExpressionAttributeNames\":{");
        for (i, (k, v)) in t.names.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(out, k);
            out.push(b':');
            string(out, v);
        }
        out.push(b'}');
    }
    if !t.values.is_empty() {
        out.extend_from_slice(b",\"ExpressionAttributeValues\":");
        attrs(out, &t.values)?;
    }
    if t.return_old {
        out.extend_from_slice(b",\"ReturnValuesOnConditionCheckFailure\":\"ALL_OLD\"");
    }
    out.extend_from_slice(b"}}");
    Ok(())
}

/// An item, key or expression values: `{"name":{"S":"…"},…}`; a name
/// twice is an error (a map's JSON has each name once).
fn attrs(out: &mut Vec<u8>, list: &AttrList<'_>) -> Result<(), String> {
    if let Some(k) = twice(list.iter().map(|(k, _)| k.as_ref())) {
        return Err(format!("the attribute {k} twice"));
    }
    pairs(out, list.iter().map(|(k, v)| (k.as_ref(), v)))
}

/// The first name `names` holds a second time, if any.
fn twice<'x>(names: impl Iterator<Item = &'x str> + Clone) -> Option<&'x str> {
    names
        .clone()
        .enumerate()
        .find_map(|(i, k)| names.clone().take(i).any(|x| x == k).then_some(k))
}

/// `{"name":value,…}` of `pairs`, in their order (a list's, or a map
/// value's own).
fn pairs<'x>(
    out: &mut Vec<u8>,
    pairs: impl Iterator<Item = (&'x str, &'x AttributeValue)>,
) -> Result<(), String> {
    out.push(b'{');
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, k);
        out.push(b':');
        value(out, v)?;
    }
    out.push(b'}');
    Ok(())
}

/// One attribute value, as `Av` serializes it.
fn value(out: &mut Vec<u8>, v: &AttributeValue) -> Result<(), String> {
    fn strings<'a>(out: &mut Vec<u8>, items: impl Iterator<Item = &'a str>) {
        out.push(b'[');
        for (i, s) in items.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(out, s);
        }
        out.push(b']');
    }
    match v {
        AttributeValue::S(s) => {
            out.extend_from_slice(b"{\"S\":");
            string(out, s);
        }
        AttributeValue::N(n) => {
            out.extend_from_slice(b"{\"N\":");
            string(out, n);
        }
        AttributeValue::B(b) => {
            out.extend_from_slice(b"{\"B\":");
            string(out, &B64.encode(b.as_ref()));
        }
        AttributeValue::Bool(b) => {
            out.extend_from_slice(if *b {
                b"{\"BOOL\":true"
            } else {
                b"{\"BOOL\":false"
            });
        }
        AttributeValue::Null(b) => {
            out.extend_from_slice(if *b {
                b"{\"NULL\":true"
            } else {
                b"{\"NULL\":false"
            });
        }
        AttributeValue::Ss(v) => {
            out.extend_from_slice(b"{\"SS\":");
            strings(out, v.iter().map(String::as_str));
        }
        AttributeValue::Ns(v) => {
            out.extend_from_slice(b"{\"NS\":");
            strings(out, v.iter().map(String::as_str));
        }
        AttributeValue::Bs(v) => {
            out.extend_from_slice(b"{\"BS\":");
            let encoded: Vec<String> = v.iter().map(|b| B64.encode(b.as_ref())).collect();
            strings(out, encoded.iter().map(String::as_str));
        }
        AttributeValue::L(list) => {
            out.extend_from_slice(b"{\"L\":[");
            for (i, v) in list.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(out, v)?;
            }
            out.push(b']');
        }
        AttributeValue::M(m) => {
            out.extend_from_slice(b"{\"M\":");
            pairs(out, m.iter().map(|(k, v)| (k.as_str(), v)))?;
        }
        _ => return Err("an unknown attribute value".into()),
    }
    out.push(b'}');
    Ok(())
}

/// `s` as a JSON string, escaped as serde_json escapes it: `"`, `\` and
/// the control characters; everything else (UTF-8 included) as it is.
pub(super) fn string(out: &mut Vec<u8>, s: &str) {
    use crate::sigv4::HEX_DIGITS as HEX;
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    while let Some(at) = next_escape(&bytes[start..]) {
        let i = start + at;
        out.extend_from_slice(&bytes[start..i]);
        let b = bytes[i];
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Where the first byte a JSON string must escape (a control character,
/// `"` or `\`) is in `bytes`, if anywhere. Eight bytes are tested at a
/// time: a word has a byte below 0x20 when `(w - 0x20…20) & !w & 0x80…80`
/// is not zero, and a byte equal to `c` when the same test for zero holds
/// for `w ^ c…c`; both are exact for the word as a whole (only the bytes
/// after a match can be flagged wrongly), so the word that matches is then
/// searched byte by byte.
fn next_escape(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut at = 0;
    for word in bytes.chunks_exact(8) {
        let w = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
        if control
            | has_zero(w ^ (ONES * u64::from(b'"')))
            | has_zero(w ^ (ONES * u64::from(b'\\')))
            != 0
        {
            break;
        }
        at += 8;
    }
    bytes[at..]
        .iter()
        .position(|&b| b < 0x20 || b == b'"' || b == b'\\')
        .map(|i| at + i)
}
