//! `TransactWriteItems`' request written by hand: the largest request on
//! the message paths (a stored message, its SID claim and the conversation's
//! update, ~4 KB), where serde_json's serializer spent more instructions
//! per byte than anything else in process-inbound (a call into the writer
//! per quote, key and value; BENCHMARKS.md, "Round 14"). The JSON is what
//! the serde form it replaced wrote, field for field (items and values as
//! `Attrs` and `Av` still write them for the other requests); the
//! request-equality tests compare it with the SDK's.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use base64::Engine;

use super::{B64, Item};

/// The request body of `TransactWriteItems` for `items` and `token`.
pub(super) fn transact_body(items: &[TransactWriteItem], token: &str) -> Result<Vec<u8>, String> {
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

/// The fields of one write, in `Write`'s order; `None`s left out.
struct Fields<'a> {
    item: Option<&'a Item>,
    key: Option<&'a Item>,
    table_name: &'a str,
    update_expression: Option<&'a str>,
    condition_expression: Option<&'a str>,
    names: Option<&'a HashMap<String, String>>,
    values: Option<&'a Item>,
    return_values: Option<&'a str>,
}

fn tx_item(out: &mut Vec<u8>, t: &TransactWriteItem) -> Result<(), String> {
    // The fields every kind of write has, then the kind's own (the SDK's
    // four write types share no trait).
    macro_rules! fields {
        ($w:expr, $($field:ident: $value:expr),*) => {
            Fields {
                table_name: $w.table_name(),
                names: $w.expression_attribute_names(),
                values: $w.expression_attribute_values(),
                return_values: $w.return_values_on_condition_check_failure().map(|r| r.as_str()),
                $($field: $value,)*
            }
        };
    }
    let (kind, f) = if let Some(p) = t.put() {
        let f = fields!(p, item: Some(p.item()), key: None, update_expression: None,
            condition_expression: p.condition_expression());
        ("Put", f)
    } else if let Some(u) = t.update() {
        let f = fields!(u, item: None, key: Some(u.key()),
            update_expression: Some(u.update_expression()),
            condition_expression: u.condition_expression());
        ("Update", f)
    } else if let Some(d) = t.delete() {
        let f = fields!(d, item: None, key: Some(d.key()), update_expression: None,
            condition_expression: d.condition_expression());
        ("Delete", f)
    } else if let Some(c) = t.condition_check() {
        let f = fields!(c, item: None, key: Some(c.key()), update_expression: None,
            condition_expression: Some(c.condition_expression()));
        ("ConditionCheck", f)
    } else {
        return Err("a transaction item with no write".into());
    };
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\":{");
    if let Some(item) = f.item {
        out.extend_from_slice(b"\"Item\":");
        attrs(out, item)?;
        out.push(b',');
    }
    if let Some(key) = f.key {
        out.extend_from_slice(b"\"Key\":");
        attrs(out, key)?;
        out.push(b',');
    }
    out.extend_from_slice(b"\"TableName\":");
    string(out, f.table_name);
    if let Some(e) = f.update_expression {
        out.extend_from_slice(b",\"UpdateExpression\":");
        string(out, e);
    }
    if let Some(e) = f.condition_expression {
        out.extend_from_slice(b",\"ConditionExpression\":");
        string(out, e);
    }
    if let Some(names) = f.names {
        out.extend_from_slice(b",\"ExpressionAttributeNames\":{");
        for (i, (k, v)) in names.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(out, k);
            out.push(b':');
            string(out, v);
        }
        out.push(b'}');
    }
    if let Some(values) = f.values {
        out.extend_from_slice(b",\"ExpressionAttributeValues\":");
        attrs(out, values)?;
    }
    if let Some(r) = f.return_values {
        out.extend_from_slice(b",\"ReturnValuesOnConditionCheckFailure\":");
        string(out, r);
    }
    out.extend_from_slice(b"}}");
    Ok(())
}

/// An item, key or expression values: `{"name":{"S":"…"},…}`.
fn attrs(out: &mut Vec<u8>, item: &Item) -> Result<(), String> {
    out.push(b'{');
    for (i, (k, v)) in item.iter().enumerate() {
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
            attrs(out, m)?;
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
