//! A local stand-in for API Gateway's WebSocket API and its management
//! endpoint, driven by `template.yaml`'s `AWS::ApiGatewayV2` routes:
//!
//! - `GET /ws` upgrades after the `$connect` function answered 200 (any
//!   other answer refuses the upgrade with that status and body), with the
//!   same `ApiGatewayWebsocketProxyRequest` API Gateway would send
//!   (`?token=` and headers included) and a fresh connection id;
//! - each text frame is routed on `$request.body.action` (the template's
//!   route selection) to its route or `$default`; a two-way route's answer
//!   goes back over the socket;
//! - closing the socket invokes `$disconnect`;
//! - `POST /@connections/{id}` sends the body to the socket as a text frame
//!   (410 `GoneException` when there is none) and `DELETE` closes it — what
//!   `aws-sdk-apigatewaymanagement` calls in AWS, so the push function uses
//!   the real client here too.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body as LambdaBody;
use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use shared::Core;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

use crate::template::WsRoute;

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
pub type WsHandler =
    fn(&'static Core, ApiGatewayWebsocketProxyRequest) -> BoxFuture<ApiGatewayProxyResponse>;

/// The handler linked for a WebSocket route's cargo binary.
pub fn linked(binary: &str) -> Option<WsHandler> {
    let h: WsHandler = match binary {
        "ws-connect" => |c, e| Box::pin(async move { unwrap(ws_connect::handle(c, e).await) }),
        "ws-disconnect" => {
            |c, e| Box::pin(async move { unwrap(ws_disconnect::handle(c, e).await) })
        }
        "ws-ping" => |_, e| Box::pin(async move { unwrap(ws_ping::handle(e).await) }),
        "ws-default" => |_, e| Box::pin(async move { unwrap(ws_default::handle(e).await) }),
        _ => return None,
    };
    Some(h)
}

fn unwrap(r: Result<ApiGatewayProxyResponse, std::convert::Infallible>) -> ApiGatewayProxyResponse {
    match r {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

struct Bound {
    route: WsRoute,
    handler: WsHandler,
}

/// Open sockets by connection id, and the routes.
pub struct WsHub {
    core: &'static Core,
    routes: Vec<Bound>,
    /// The body field routes are selected on (`$request.body.<field>`).
    selection_field: String,
    sockets: Mutex<HashMap<String, mpsc::UnboundedSender<Message>>>,
}

impl WsHub {
    /// Bind every template route to its linked handler; a route whose
    /// binary is not linked is an error (the template and gateway agree).
    pub fn new(
        core: &'static Core,
        routes: &[WsRoute],
        selection: Option<&str>,
    ) -> Result<Arc<Self>, String> {
        let routes = routes
            .iter()
            .map(|r| {
                Ok(Bound {
                    handler: linked(&r.binary)
                        .ok_or_else(|| format!("no linked handler for binary {}", r.binary))?,
                    route: r.clone(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let selection_field = selection
            .and_then(|s| s.strip_prefix("$request.body."))
            .unwrap_or("action")
            .to_string();
        Ok(Arc::new(Self {
            core,
            routes,
            selection_field,
            sockets: Mutex::new(HashMap::new()),
        }))
    }

    fn route(&self, key: &str) -> Option<&Bound> {
        self.routes.iter().find(|b| b.route.route_key == key)
    }

    /// Ids of the sockets open now.
    pub fn open_connections(&self) -> Vec<String> {
        self.sockets
            .lock()
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/ws", get(upgrade))
            .route("/@connections/{id}", post(post_to).delete(close))
            .with_state(self.clone())
    }

    async fn invoke(
        &self,
        key: &str,
        connection_id: &str,
        event_type: &str,
        headers: &HeaderMap,
        query: &HashMap<String, String>,
        body: Option<String>,
    ) -> Option<(ApiGatewayProxyResponse, bool)> {
        let bound = self.route(key)?;
        let mut event = ApiGatewayWebsocketProxyRequest::default();
        event.headers = headers.clone();
        event.query_string_parameters = query
            .iter()
            .map(|(k, v)| (k.clone(), vec![v.clone()]))
            .collect::<HashMap<_, _>>()
            .into();
        event.body = body;
        event.request_context.connection_id = Some(connection_id.to_string());
        event.request_context.route_key = Some(key.to_string());
        event.request_context.event_type = Some(event_type.to_string());
        event.request_context.stage = Some("local".into());
        event.request_context.request_time_epoch = chrono::Utc::now().timestamp_millis();
        Some(((bound.handler)(self.core, event).await, bound.route.two_way))
    }
}

fn body_text(r: &ApiGatewayProxyResponse) -> Option<String> {
    match &r.body {
        Some(LambdaBody::Text(t)) => Some(t.clone()),
        Some(LambdaBody::Binary(b)) => String::from_utf8(b.clone()).ok(),
        _ => None,
    }
}

/// An id shaped like API Gateway's (`L0SM9cOFvHcCIhw=`): 12 random bytes,
/// base64.
fn new_connection_id() -> String {
    use base64::Engine;
    let bytes = ulid::Ulid::new().0.to_be_bytes();
    base64::engine::general_purpose::STANDARD
        .encode(&bytes[4..])
        .replace(['+', '/'], "A")
}

async fn upgrade(
    State(hub): State<Arc<WsHub>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let id = new_connection_id();
    let Some((resp, _)) = hub
        .invoke("$connect", &id, "CONNECT", &headers, &query, None)
        .await
    else {
        // No $connect route: API Gateway accepts every connection.
        return accept(hub, id, ws, None);
    };
    if resp.status_code != 200 {
        let status = StatusCode::from_u16(resp.status_code as u16).unwrap_or(StatusCode::FORBIDDEN);
        return (
            status,
            [("content-type", "application/json")],
            body_text(&resp).unwrap_or_default(),
        )
            .into_response();
    }
    let protocol = resp
        .headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    accept(hub, id, ws, protocol)
}

fn accept(hub: Arc<WsHub>, id: String, ws: WebSocketUpgrade, protocol: Option<String>) -> Response {
    let ws = match protocol {
        Some(p) => ws.protocols([p]),
        None => ws,
    };
    let (tx, rx) = mpsc::unbounded_channel();
    if let Ok(mut s) = hub.sockets.lock() {
        s.insert(id.clone(), tx.clone());
    }
    ws.on_upgrade(move |socket| serve_socket(hub, id, socket, tx, rx))
}

async fn serve_socket(
    hub: Arc<WsHub>,
    id: String,
    socket: WebSocket,
    tx: mpsc::UnboundedSender<Message>,
    mut rx: mpsc::UnboundedReceiver<Message>,
) {
    use futures::{SinkExt, StreamExt};
    let (mut sink, mut stream) = socket.split();
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let close = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || close {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let no_headers = HeaderMap::new();
    let no_query = HashMap::new();
    while let Some(Ok(msg)) = stream.next().await {
        let text = match msg {
            Message::Text(t) => t.to_string(),
            Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            Message::Close(_) => break,
            _ => continue,
        };
        let action = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get(&hub.selection_field)?.as_str().map(str::to_string));
        let key = match action {
            Some(a) if hub.route(&a).is_some() && !a.starts_with('$') => a,
            _ => "$default".to_string(),
        };
        if let Some((resp, two_way)) = hub
            .invoke(&key, &id, "MESSAGE", &no_headers, &no_query, Some(text))
            .await
            && two_way
            && let Some(body) = body_text(&resp)
        {
            let _ = tx.send(Message::Text(body.into()));
        }
    }
    if let Ok(mut s) = hub.sockets.lock() {
        s.remove(&id);
    }
    drop(tx);
    writer.abort();
    let _ = hub
        .invoke(
            "$disconnect",
            &id,
            "DISCONNECT",
            &no_headers,
            &no_query,
            None,
        )
        .await;
}

fn gone() -> Response {
    (
        StatusCode::GONE,
        [
            ("content-type", "application/json"),
            ("x-amzn-errortype", "GoneException"),
        ],
        r#"{"message":"connection is gone"}"#,
    )
        .into_response()
}

async fn post_to(State(hub): State<Arc<WsHub>>, Path(id): Path<String>, body: Bytes) -> Response {
    let tx = hub.sockets.lock().ok().and_then(|s| s.get(&id).cloned());
    let Some(tx) = tx else {
        return gone();
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    if tx.send(Message::Text(text.into())).is_err() {
        return gone();
    }
    StatusCode::OK.into_response()
}

async fn close(State(hub): State<Arc<WsHub>>, Path(id): Path<String>) -> Response {
    let tx = hub.sockets.lock().ok().and_then(|mut s| s.remove(&id));
    match tx {
        Some(tx) => {
            let _ = tx.send(Message::Close(None));
            StatusCode::NO_CONTENT.into_response()
        }
        None => gone(),
    }
}
