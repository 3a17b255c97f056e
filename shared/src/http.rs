//! HTTP glue for API handlers: parsing requests, building JSON responses.

use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Larger JSON bodies are refused with 413 before parsing.
pub const MAX_JSON_BODY: usize = 64 * 1024;

pub fn json<T: Serialize>(status: u16, value: &T) -> Response<Body> {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(body))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

/// The response of a handler: its value, or its error as JSON.
pub fn respond(result: Result<Response<Body>, ApiError>) -> Response<Body> {
    result.unwrap_or_else(ApiError::into_response)
}

fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// Parse a JSON body: 415 for another content type, 413 when too large,
/// 400 for malformed JSON, 422 for JSON of the wrong shape.
pub fn parse_json<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let ct = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes = body_bytes(req);
    if bytes.len() > MAX_JSON_BODY {
        return Err(ApiError::PayloadTooLarge);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "invalid_json",
            "request body is empty",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::unprocessable("invalid_request", strip_position(&e)),
            _ => ApiError::bad_request("invalid_json", "request body is not valid JSON"),
        }
    })
}

/// A body already parsed by [`parse_json`] as a `Value` (to look at one
/// field first), read into its request type with the same answers: a
/// missing or mistyped field is 422 `invalid_request`.
pub fn from_json_value<T: DeserializeOwned>(v: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(v)
        .map_err(|e| ApiError::unprocessable("invalid_request", strip_position(&e)))
}

/// serde's data errors name the field and the problem; drop the position.
fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.find(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

pub fn path_param(req: &Request, name: &str) -> Option<String> {
    req.path_parameters().first(name).map(str::to_string)
}

pub fn query_param(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters()
        .first(name)
        .map(str::to_string)
}

pub fn header(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `limit` query parameter: 1..=100, default 20.
pub fn page_limit(req: &Request) -> Result<i32, ApiError> {
    match query_param(req, "limit") {
        None => Ok(20),
        Some(v) => match v.parse::<i32>() {
            Ok(n) if (1..=100).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(
                "invalid_limit",
                "limit must be an integer from 1 to 100",
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Shape {
        name: String,
    }

    fn req(ct: &str, body: &str) -> Request {
        http::Request::builder()
            .header("content-type", ct)
            .body(Body::Text(body.into()))
            .unwrap()
    }

    #[test]
    fn when_content_type_is_not_json_it_should_be_415() {
        let e = parse_json::<Shape>(&req("text/plain", "{}")).unwrap_err();
        assert_eq!(e.status(), 415);
    }

    #[test]
    fn when_json_is_malformed_it_should_be_400_and_when_misshapen_422() {
        let e = parse_json::<Shape>(&req("application/json", "{")).unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (400, "invalid_json"));
        let e = parse_json::<Shape>(&req("application/json; charset=utf-8", "{}")).unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (422, "invalid_request"));
        assert!(
            e.public_message().contains("name"),
            "{}",
            e.public_message()
        );
    }

    #[test]
    fn when_body_is_too_large_it_should_be_413() {
        let big = format!("{{\"name\":\"{}\"}}", "x".repeat(MAX_JSON_BODY));
        let e = parse_json::<Shape>(&req("application/json", &big)).unwrap_err();
        assert_eq!(e.status(), 413);
    }
}
