//! A local stand-in for API Gateway (HTTP API): routes come from
//! `template.yaml`; each route's binary is served by its linked handler,
//! called with the same `lambda_http::Request` Lambda would build.

use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response as AxumResponse};
use futures_lite::BoxFuture;
use lambda_http::{Body, Request, RequestExt, Response};
use shared::App;
use std::collections::HashMap;
use std::sync::Arc;

use crate::template::Route;

mod futures_lite {
    pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
}

/// What the linked handlers run on: the API's dependencies and the
/// webhook ingest's (which has no DynamoDB, only SQS).
pub struct Deps {
    pub app: &'static App,
    pub ingest: &'static webhook_ingest::Ingest,
}

pub type Handler = fn(&'static Deps, Request) -> BoxFuture<Response<Body>>;

/// The handler linked for a cargo binary named in the template.
pub fn linked(binary: &str) -> Option<Handler> {
    let h: Handler = match binary {
        "create-conversation" => |d, r| Box::pin(create_conversation::handle(d.app, r)),
        "list-conversations" => |d, r| Box::pin(list_conversations::handle(d.app, r)),
        "get-conversation" => |d, r| Box::pin(get_conversation::handle(d.app, r)),
        "get-messages" => |d, r| Box::pin(get_messages::handle(d.app, r)),
        "send-message" => |d, r| Box::pin(send_message::handle(d.app, r)),
        "mark-as-read" => |d, r| Box::pin(mark_as_read::handle(d.app, r)),
        "unread-count" => |d, r| Box::pin(unread_count::handle(d.app, r)),
        "manage-participants" => |d, r| Box::pin(manage_participants::handle(d.app, r)),
        "manage-chat-accounts" => |d, r| Box::pin(manage_chat_accounts::handle(d.app, r)),
        "update-conversation" => |d, r| Box::pin(update_conversation::handle(d.app, r)),
        "provider-stats" => |d, r| Box::pin(provider_stats::handle(d.app, r)),
        "webhook-ingest" => |d, r| Box::pin(webhook_ingest::handle(d.ingest, r)),
        _ => return None,
    };
    Some(h)
}

struct Bound {
    route: Route,
    segments: Vec<String>,
    handler: Handler,
}

pub struct Gateway {
    deps: &'static Deps,
    routes: Vec<Bound>,
}

/// Match `path` against a template like `/conversations/{id}`.
pub fn match_path(segments: &[String], path: &str) -> Option<HashMap<String, String>> {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = HashMap::new();
    for (seg, part) in segments.iter().zip(parts) {
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if part.is_empty() {
                return None;
            }
            params.insert(name.to_string(), percent_decode(part));
        } else if seg != part {
            return None;
        }
    }
    Some(params)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(v) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Gateway {
    /// Bind every template route to its linked handler; a route whose binary
    /// is not linked is an error (the gateway and the template must agree).
    pub fn new(deps: &'static Deps, routes: &[Route]) -> Result<Self, String> {
        let routes = routes
            .iter()
            .map(|r| {
                let handler = linked(&r.binary)
                    .ok_or_else(|| format!("no linked handler for binary {}", r.binary))?;
                Ok(Bound {
                    route: r.clone(),
                    segments: r.path.split('/').skip(1).map(str::to_string).collect(),
                    handler,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self { deps, routes })
    }

    pub fn routes(&self) -> Vec<Route> {
        self.routes.iter().map(|b| b.route.clone()).collect()
    }

    pub fn router(self) -> Router {
        Router::new().fallback(dispatch).with_state(Arc::new(self))
    }

    /// Serve on a bound listener.
    pub fn serve(self, listener: tokio::net::TcpListener) {
        let router = self.router();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
    }
}

fn json_error(status: StatusCode, code: &str, message: &str) -> AxumResponse {
    (
        status,
        [("content-type", "application/json")],
        serde_json::json!({"error": {"code": code, "message": message}}).to_string(),
    )
        .into_response()
}

async fn dispatch(State(gw): State<Arc<Gateway>>, req: axum::extract::Request) -> AxumResponse {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    if path == "/healthz" {
        return (StatusCode::OK, "ok").into_response();
    }
    let mut path_matched = false;
    let mut found = None;
    for b in &gw.routes {
        if let Some(params) = match_path(&b.segments, &path) {
            path_matched = true;
            if b.route.method == parts.method.as_str() {
                found = Some((b.handler, params));
                break;
            }
        }
    }
    let Some((handler, params)) = found else {
        return if path_matched {
            json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            )
        } else {
            json_error(StatusCode::NOT_FOUND, "not_found", "no such route")
        };
    };
    // API Gateway's payload limit is 10 MB; the functions refuse far less.
    let Ok(bytes) = axum::body::to_bytes(body, 10 << 20).await else {
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body too large",
        );
    };
    let mut query: HashMap<String, Vec<String>> = HashMap::new();
    if let Some(q) = parts.uri.query() {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).unwrap_or_default();
        for (k, v) in pairs {
            query.entry(k).or_default().push(v);
        }
    }
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    };
    let mut builder = http::Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.clone());
    for (k, v) in &parts.headers {
        builder = builder.header(k, v);
    }
    let Ok(lreq) = builder.body(body) else {
        return json_error(StatusCode::BAD_REQUEST, "bad_request", "malformed request");
    };
    let lreq = lreq
        .with_path_parameters(params)
        .with_query_string_parameters(query);
    let resp = handler(gw.deps, lreq).await;
    let (rparts, rbody) = resp.into_parts();
    let bytes = match rbody {
        Body::Empty => Vec::new(),
        Body::Text(t) => t.into_bytes(),
        Body::Binary(b) => b,
        _ => Vec::new(),
    };
    AxumResponse::from_parts(rparts, AxumBody::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<String> {
        p.split('/').skip(1).map(str::to_string).collect()
    }

    #[test]
    fn when_a_path_matches_a_template_it_should_extract_parameters() {
        let p = match_path(
            &segs("/conversations/{id}/participants/{user_id}"),
            "/conversations/conv_1/participants/u%3A1",
        )
        .unwrap();
        assert_eq!(p["id"], "conv_1");
        assert_eq!(p["user_id"], "u:1");
        assert!(match_path(&segs("/conversations/{id}"), "/conversations/a/messages").is_none());
        assert!(match_path(&segs("/conversations/{id}"), "/conversations/").is_none());
        assert!(match_path(&segs("/me/unread"), "/me/unread").is_some());
    }
}
