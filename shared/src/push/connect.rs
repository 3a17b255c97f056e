//! `$connect` and `$disconnect`.
//!
//! Browsers cannot set headers on a WebSocket, so the HTTP API's JWT comes
//! as `?token=<jwt>` or as a `Sec-WebSocket-Protocol` entry
//! `bearer.<jwt>` offered next to [`SUBPROTOCOL`] (which the server then
//! selects, so the token is never echoed back). A missing, forged or
//! expired token is refused with 401 before anything is stored; service
//! tokens (the trusted booking backend, which sees every conversation) do
//! not subscribe (403).

use crate::app::Core;
use crate::clock::format_ts;
use crate::connections::{Connection, ConnectionStore};
use crate::error::ApiError;

/// The subprotocol the server selects when the client offers it.
pub const SUBPROTOCOL: &str = "messaging.v1";
/// Prefix of the subprotocol entry that carries the token.
pub const TOKEN_PROTOCOL_PREFIX: &str = "bearer.";

/// What the `$connect` request carries.
#[derive(Debug, Default)]
pub struct ConnectRequest<'a> {
    pub connection_id: &'a str,
    /// `?token=`
    pub token: Option<&'a str>,
    /// The `Sec-WebSocket-Protocol` header (comma-separated).
    pub protocols: Option<&'a str>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Accepted {
    pub connection: Connection,
    /// The subprotocol to answer with (`Sec-WebSocket-Protocol`), when the
    /// client offered one.
    pub subprotocol: Option<&'static str>,
}

/// API Gateway's connection ids are short base64-like strings; anything
/// else is not one of its ids.
pub fn valid_connection_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'-' | b'_' | b'+' | b'/'))
}

fn offered(protocols: Option<&str>) -> impl Iterator<Item = &str> {
    protocols
        .into_iter()
        .flat_map(|p| p.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
}

/// Verify the token and store the connection.
pub async fn connect(
    core: &Core<impl ConnectionStore>,
    req: &ConnectRequest<'_>,
) -> Result<Accepted, ApiError> {
    if !valid_connection_id(req.connection_id) {
        return Err(ApiError::bad_request(
            "invalid_connection_id",
            "not a connection id",
        ));
    }
    let from_protocol = offered(req.protocols).find_map(|p| p.strip_prefix(TOKEN_PROTOCOL_PREFIX));
    let token = req
        .token
        .filter(|t| !t.is_empty())
        .or(from_protocol)
        .ok_or(ApiError::Unauthorized(
            "missing token (?token= or a bearer.<token> subprotocol)",
        ))?;
    let caller = core.auth.verify(token.trim())?;
    if caller.is_service() {
        return Err(ApiError::forbidden(
            "service_cannot_subscribe",
            "service tokens do not receive real-time events",
        ));
    }
    let now = core.clock.now();
    let connection = Connection::of(req.connection_id, &caller, &format_ts(now), now.timestamp());
    core.store.put_connection(&connection).await?;
    let subprotocol = offered(req.protocols)
        .any(|p| p == SUBPROTOCOL)
        .then_some(SUBPROTOCOL);
    Ok(Accepted {
        connection,
        subprotocol,
    })
}

/// Forget the connection (idempotent).
pub async fn disconnect(
    core: &Core<impl ConnectionStore>,
    connection_id: &str,
) -> Result<(), ApiError> {
    if !valid_connection_id(connection_id) {
        return Ok(());
    }
    core.store.delete_connection(connection_id).await?;
    Ok(())
}

/// A refusal as a status code and the API's JSON error body (logged the
/// way every API error is).
pub fn refusal(e: ApiError) -> (u16, String) {
    let resp = e.into_response();
    let status = resp.status().as_u16();
    let body = match resp.into_body() {
        lambda_http::Body::Text(t) => t,
        _ => String::new(),
    };
    (status, body)
}
