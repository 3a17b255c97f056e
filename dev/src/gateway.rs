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
use std::path::{Path, PathBuf};
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
    /// Meta's webhook (its own app secret and verify token, only SQS).
    pub meta: &'static meta_webhook::MetaWebhook,
    /// What an org admin's number registration must prove.
    pub ownership: &'static shared::ownership::OwnershipCheck,
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
        "send-typing" => |d, r| Box::pin(send_typing::handle(d.app, r)),
        "unread-count" => |d, r| Box::pin(unread_count::handle(d.app, r)),
        "manage-participants" => |d, r| Box::pin(manage_participants::handle(d.app, r)),
        "manage-chat-accounts" => {
            |d, r| Box::pin(manage_chat_accounts::handle(d.app, d.ownership, r))
        }
        "update-conversation" => |d, r| Box::pin(update_conversation::handle(d.app, r)),
        "provider-stats" => |d, r| Box::pin(provider_stats::handle(d.app, r)),
        "webhook-ingest" => |d, r| Box::pin(webhook_ingest::handle(d.ingest, r)),
        "meta-webhook" => |d, r| Box::pin(meta_webhook::handle(d.meta, r)),
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
    /// Static files (the web app) served for GET/HEAD of non-API paths.
    web_root: Option<PathBuf>,
    /// Dev-only endpoints under `/dev/` (the local binary only).
    dev: Option<Router>,
    /// The WebSocket API (`/ws`) and its `@connections` endpoint.
    ws: Option<Router>,
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
        Ok(Self {
            deps,
            routes,
            web_root: None,
            dev: None,
            ws: None,
        })
    }

    /// Serve the files under `root` for GET/HEAD of paths no API route has.
    pub fn with_web_root(mut self, root: PathBuf) -> Self {
        self.web_root = Some(root);
        self
    }

    /// Serve `router` under `/dev/` (dev-only endpoints; never deployed).
    pub fn with_dev_routes(mut self, router: Router) -> Self {
        self.dev = Some(router);
        self
    }

    /// Serve the WebSocket API's routes (`/ws`, `/@connections/{id}`).
    pub fn with_websocket(mut self, router: Router) -> Self {
        self.ws = Some(router);
        self
    }

    pub fn routes(&self) -> Vec<Route> {
        self.routes.iter().map(|b| b.route.clone()).collect()
    }

    pub fn router(mut self) -> Router {
        let dev = self.dev.take();
        let ws = self.ws.take();
        let router = Router::new().fallback(dispatch);
        let router = match dev {
            Some(dev) => router.nest_service("/dev", dev),
            None => router,
        };
        let router = router.with_state(Arc::new(self));
        match ws {
            Some(ws) => router.merge(ws),
            None => router,
        }
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
        if !path_matched
            && (parts.method == axum::http::Method::GET || parts.method == axum::http::Method::HEAD)
            && let Some(root) = &gw.web_root
        {
            return static_file(root, &path, parts.method == axum::http::Method::HEAD).await;
        }
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

/// The file under `root` for a request path, or `None` for anything that
/// is not a plain relative path of safe names: no `..`, no hidden files, no
/// backslashes or control characters, no absolute or empty segments.
pub fn static_path(root: &Path, request_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(request_path);
    let rel = decoded.strip_prefix('/')?;
    let rel = if rel.is_empty() { "index.html" } else { rel };
    let mut out = root.to_path_buf();
    for seg in rel.split('/') {
        let safe = !seg.is_empty()
            && !seg.starts_with('.')
            && seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !safe {
            return None;
        }
        out.push(seg);
    }
    Some(out)
}

/// The content type of a web app file, by extension; `None`: not served.
pub fn content_type(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => return None,
    })
}

async fn static_file(root: &Path, request_path: &str, head: bool) -> AxumResponse {
    let not_found = || (StatusCode::NOT_FOUND, "not found").into_response();
    let Some(path) = static_path(root, request_path) else {
        return not_found();
    };
    let Some(ct) = content_type(&path) else {
        return not_found();
    };
    // Resolve symlinks and stay inside the root.
    let (Ok(real_root), Ok(real)) = (
        tokio::fs::canonicalize(root).await,
        tokio::fs::canonicalize(&path).await,
    ) else {
        return not_found();
    };
    if !real.starts_with(&real_root) {
        return not_found();
    }
    let Ok(bytes) = tokio::fs::read(&real).await else {
        return not_found();
    };
    let mut resp = AxumResponse::new(if head {
        AxumBody::empty()
    } else {
        AxumBody::from(bytes)
    });
    let h = resp.headers_mut();
    h.insert("content-type", axum::http::HeaderValue::from_static(ct));
    h.insert(
        "cache-control",
        axum::http::HeaderValue::from_static("no-cache"),
    );
    h.insert(
        "x-content-type-options",
        axum::http::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "referrer-policy",
        axum::http::HeaderValue::from_static("no-referrer"),
    );
    if ct.starts_with("text/html") {
        h.insert(
            "content-security-policy",
            axum::http::HeaderValue::from_static(WEB_CSP),
        );
    }
    resp
}

/// The web app's Content-Security-Policy (also set by CloudFront in
/// `template.yaml`): its own scripts and styles only; API calls may go to
/// another origin (the deployed API).
pub const WEB_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self' http: https:; frame-ancestors 'none'; \
base-uri 'none'; form-action 'none'";

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

    #[test]
    fn when_a_static_path_is_unsafe_it_should_not_resolve() {
        let root = Path::new("/srv/web");
        assert_eq!(
            static_path(root, "/"),
            Some(PathBuf::from("/srv/web/index.html"))
        );
        assert_eq!(
            static_path(root, "/js/app.js"),
            Some(PathBuf::from("/srv/web/js/app.js"))
        );
        for bad in [
            "/../Cargo.toml",
            "/%2e%2e/Cargo.toml",
            "/js/../../etc/passwd",
            "/.env",
            "/js//app.js",
            "/js/%5c..%5capp.js",
            "/a%00.js",
            "relative.js",
        ] {
            assert_eq!(static_path(root, bad), None, "{bad}");
        }
    }

    #[test]
    fn when_a_file_is_served_it_should_have_its_content_type() {
        assert_eq!(
            content_type(Path::new("index.html")),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(
            content_type(Path::new("app.js")),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(
            content_type(Path::new("style.css")),
            Some("text/css; charset=utf-8")
        );
        assert_eq!(
            content_type(Path::new("package.json")),
            Some("application/json")
        );
        assert_eq!(content_type(Path::new("Cargo.toml")), None);
        assert_eq!(content_type(Path::new("README")), None);
    }
}
