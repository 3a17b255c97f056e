//! An HTTP API (payload 2.0) event, read into `aws_lambda_events`'
//! `ApiGatewayV2httpRequest` field for field as its own `Deserialize` reads
//! it (tests compare the two on every sample event and on odd ones), but
//! with the headers read directly: `aws_lambda_events` reads each header's
//! value through an untagged enum (one string, strings, or byte strings),
//! which serde buffers as a copy before trying each variant, and each name
//! as an owned string; about a third of the instructions of parsing a
//! webhook's event (13 headers) went there.

use std::collections::HashMap;
use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};

/// The event an HTTP function is invoked with.
#[derive(Debug)]
pub struct HttpEvent(pub ApiGatewayV2httpRequest);

/// `ApiGatewayV2httpRequest`'s fields with its serde attributes, except for
/// how `headers` is read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fields {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    method_arn: Option<String>,
    #[serde(deserialize_with = "http_method", default = "get")]
    http_method: Method,
    #[serde(default)]
    identity_source: Option<String>,
    #[serde(default)]
    authorization_token: Option<String>,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    route_key: Option<String>,
    #[serde(default, alias = "path")]
    raw_path: Option<String>,
    #[serde(default)]
    raw_query_string: Option<String>,
    cookies: Option<Vec<String>>,
    #[serde(deserialize_with = "headers", default)]
    headers: HeaderMap,
    #[serde(
        default,
        deserialize_with = "lambda_http::aws_lambda_events::query_map::serde::aws_api_gateway_v2::deserialize_empty"
    )]
    query_string_parameters: QueryMap,
    #[serde(deserialize_with = "nullish", default)]
    path_parameters: HashMap<String, String>,
    request_context: ApiGatewayV2httpRequestContext,
    #[serde(deserialize_with = "nullish", default)]
    stage_variables: HashMap<String, String>,
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: bool,
}

impl<'de> Deserialize<'de> for HttpEvent {
    #[allow(deprecated)] // the custom authorizer's fields, kept as they are read
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = Fields::deserialize(d)?;
        let mut e = ApiGatewayV2httpRequest::default();
        e.kind = f.kind;
        e.method_arn = f.method_arn;
        e.http_method = f.http_method;
        e.identity_source = f.identity_source;
        e.authorization_token = f.authorization_token;
        e.resource = f.resource;
        e.version = f.version;
        e.route_key = f.route_key;
        e.raw_path = f.raw_path;
        e.raw_query_string = f.raw_query_string;
        e.cookies = f.cookies;
        e.headers = f.headers;
        e.query_string_parameters = f.query_string_parameters;
        e.path_parameters = f.path_parameters;
        e.request_context = f.request_context;
        e.stage_variables = f.stage_variables;
        e.body = f.body;
        e.is_base64_encoded = f.is_base64_encoded;
        Ok(HttpEvent(e))
    }
}

fn get() -> Method {
    Method::GET
}

/// As `aws_lambda_events`' `http_method`: a method name, empty for `GET`.
fn http_method<'de, D: Deserializer<'de>>(d: D) -> Result<Method, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Method;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("valid method name")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Method, E> {
            if v.is_empty() {
                Ok(Method::GET)
            } else {
                v.parse()
                    .map_err(|_| E::invalid_value(Unexpected::Str(v), &self))
            }
        }
    }
    d.deserialize_str(V)
}

/// `null` as the default.
fn nullish<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The headers as `aws_lambda_events` reads them from JSON: `null` or an
/// object; a name's value one string (which replaces what an earlier
/// spelling of the name set), an array of strings or an array of byte
/// arrays (each appended; an empty array adds nothing). Anything else, or a
/// name or value `http` does not take, fails the event.
fn headers<'de, D: Deserializer<'de>>(d: D) -> Result<HeaderMap, D::Error> {
    struct Map;
    impl<'de> Visitor<'de> for Map {
        type Value = HeaderMap;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of headers")
        }
        fn visit_unit<E: de::Error>(self) -> Result<HeaderMap, E> {
            Ok(HeaderMap::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<HeaderMap, E> {
            Ok(HeaderMap::new())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<HeaderMap, D::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<M: MapAccess<'de>>(self, mut access: M) -> Result<HeaderMap, M::Error> {
            let mut map = HeaderMap::with_capacity(access.size_hint().unwrap_or(16));
            while let Some(Name(name)) = access.next_key()? {
                match access.next_value::<Values>()? {
                    Values::One(value) => {
                        map.insert(name, value);
                    }
                    Values::Many(values) => {
                        for value in values {
                            map.append(&name, value);
                        }
                    }
                }
            }
            Ok(map)
        }
    }
    d.deserialize_option(Map)
}

/// A header name, read without copying it first.
struct Name(HeaderName);

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Name;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a header name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Name, E> {
                HeaderName::from_bytes(v.as_bytes())
                    .map(Name)
                    .map_err(|_| E::invalid_value(Unexpected::Str(v), &self))
            }
        }
        d.deserialize_str(V)
    }
}

/// One header's value or values.
enum Values {
    One(HeaderValue),
    Many(Vec<HeaderValue>),
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Values;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a header value, or an array of strings or of byte arrays")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Values, E> {
                value(v.as_bytes()).map(Values::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Values, A::Error> {
                // All strings, or all byte arrays; a mix is neither.
                let mut values = Vec::new();
                let mut strings = None;
                while let Some(element) = seq.next_element::<Element>()? {
                    let is_string = matches!(element, Element::Str(_));
                    if *strings.get_or_insert(is_string) != is_string {
                        return Err(de::Error::custom(
                            "a header's values mix strings and byte arrays",
                        ));
                    }
                    values.push(match element {
                        Element::Str(v) => v,
                        Element::Bytes(v) => v,
                    });
                }
                Ok(Values::Many(values))
            }
        }
        d.deserialize_any(V)
    }
}

/// An element of a header's array of values.
enum Element {
    Str(HeaderValue),
    Bytes(HeaderValue),
}

impl<'de> Deserialize<'de> for Element {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Element;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a byte array")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Element, E> {
                value(v.as_bytes()).map(Element::Str)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Element, A::Error> {
                let mut bytes = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    bytes.push(b);
                }
                value(&bytes).map(Element::Bytes)
            }
        }
        d.deserialize_any(V)
    }
}

fn value<E: de::Error>(v: &[u8]) -> Result<HeaderValue, E> {
    HeaderValue::from_bytes(v)
        .map_err(|_| E::invalid_value(Unexpected::Bytes(v), &"a header value"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// Ours and `aws_lambda_events`' reading of `text`: the same event, or
    /// both an error.
    fn same(text: &str) {
        let ours = crate::json::from_bytes::<HttpEvent>(text.as_bytes()).map(|e| e.0);
        let theirs = serde_json::from_str::<ApiGatewayV2httpRequest>(text);
        match (ours, theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("{text}\nours: {a:?}\ntheirs: {b:?}"),
        }
    }

    fn sample_events() -> Vec<(String, Value)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../events");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let v: Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                if v.get("requestContext")
                    .and_then(|c| c.get("http"))
                    .is_some()
                {
                    out.push((path.display().to_string(), v));
                }
            }
        }
        assert!(out.len() >= 15, "{} HTTP API events", out.len());
        out
    }

    #[test]
    fn every_sample_event_should_read_as_aws_lambda_events_reads_it() {
        for (path, event) in sample_events() {
            let ours = crate::json::from_bytes::<HttpEvent>(event.to_string().as_bytes())
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(!ours.0.headers.is_empty(), "{path}");
            same(&event.to_string());
        }
    }

    #[test]
    fn odd_headers_should_read_as_aws_lambda_events_reads_them_or_fail_as_it_fails() {
        let (_, base) = sample_events().remove(0);
        let cases = [
            json!(null),
            json!({}),
            json!({"X-Upper": "a", "x-upper": "b"}),
            json!({"x-list": ["a", "b"], "x-one": "c"}),
            json!({"x-list": "a", "X-List": ["b", "c"]}),
            json!({"x-empty-list": []}),
            json!({"x-bytes": [[104, 105], [33]]}),
            json!({"x-bytes": [[300]]}),
            json!({"x-mixed": ["a", [104]]}),
            json!({"x-mixed": [[104], "a"]}),
            json!({"x-num": 1}),
            json!({"x-bool": true}),
            json!({"x-null": null}),
            json!({"x-obj": {"a": "b"}}),
            json!({"x-tab": "a\tb", "x-latin": "caf\u{e9}", "x-empty": ""}),
            json!({"x-newline": "a\nb"}),
            json!({"x-del": "a\u{7f}"}),
            json!({"bad name": "a"}),
            json!({"": "a"}),
            json!({"x-\u{e9}": "a"}),
            json!({"x-escaped\u{0041}": "a\"b"}),
            json!("not a map"),
            json!(["x"]),
            json!(1),
        ];
        for headers in cases {
            let mut event = base.clone();
            event["headers"] = headers;
            same(&event.to_string());
        }
        let mut event = base.clone();
        event.as_object_mut().unwrap().remove("headers");
        same(&event.to_string());
    }

    #[test]
    fn the_other_fields_should_read_as_aws_lambda_events_reads_them() {
        let (_, base) = sample_events().remove(0);
        let edits: Vec<(&str, Value)> = vec![
            ("httpMethod", json!("POST")),
            ("httpMethod", json!("")),
            ("httpMethod", json!("NOT A METHOD")),
            ("httpMethod", json!(null)),
            ("type", json!("REQUEST")),
            ("methodArn", json!("arn:aws:execute-api:x")),
            ("identitySource", json!("$request.header.Authorization")),
            ("authorizationToken", json!("t")),
            ("resource", json!("/r")),
            ("path", json!("/via-alias")),
            ("rawQueryString", json!("a=1&b=2&a=3")),
            ("cookies", json!(["a=1", "b=2"])),
            ("cookies", json!(null)),
            ("queryStringParameters", json!({"a": "1,3", "b": "2"})),
            ("queryStringParameters", json!(null)),
            ("queryStringParameters", json!({})),
            ("pathParameters", json!({"id": "c1"})),
            ("pathParameters", json!(null)),
            ("stageVariables", json!({"s": "v"})),
            ("stageVariables", json!(null)),
            ("body", json!(null)),
            ("isBase64Encoded", json!(true)),
            ("isBase64Encoded", json!("yes")),
            ("requestContext", json!(null)),
            ("unknownField", json!({"ignored": true})),
        ];
        for (field, value) in edits {
            let mut event = base.clone();
            event[field] = value;
            same(&event.to_string());
        }
        let mut event = base.clone();
        event.as_object_mut().unwrap().remove("requestContext");
        same(&event.to_string());
        same("{}");
        same("[]");
        same("null");
    }
}
