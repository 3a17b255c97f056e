//! WebSocket connections: what the real-time functions store about a
//! socket, and the two ports they need — the connection table
//! ([`ConnectionStore`]) and API Gateway's management endpoint, which
//! pushes a frame to one socket ([`ConnectionSender`]).
//!
//! Kept apart from `ports.rs` so the storage and transport ports of the
//! HTTP API stay as they are; the DynamoDB adapter is
//! `store/connections.rs`, the management client `push/apigw.rs`.

use std::future::Future;

use crate::auth::{Caller, UserType};
use crate::ports::StoreError;

/// API Gateway closes a WebSocket connection after 2 hours at most, so a
/// connection item outlives it by nothing: its TTL is connect time + 2 h.
pub const CONNECTION_TTL_SECS: i64 = 2 * 3600;

/// One open socket and who opened it (from the token verified on
/// `$connect`; never from anything the client sends later).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    pub user_id: String,
    pub user_type: UserType,
    /// Agents: the org whose inbox events they receive.
    pub org_id: Option<String>,
    pub connected_at: String,
    /// Epoch seconds (DynamoDB TTL).
    pub expires_at: i64,
}

impl Connection {
    pub fn of(id: &str, caller: &Caller, connected_at: &str, now_epoch: i64) -> Self {
        Self {
            id: id.to_string(),
            user_id: caller.user_id.clone(),
            user_type: caller.user_type,
            org_id: caller.org_id.clone(),
            connected_at: connected_at.to_string(),
            expires_at: now_epoch + CONNECTION_TTL_SECS,
        }
    }

    /// Whether this connection receives an org's inbox events.
    pub fn is_org_agent(&self) -> bool {
        self.user_type == UserType::Agent && self.org_id.is_some()
    }
}

pub trait ConnectionStore: Send + Sync {
    /// Store (or replace) a connection.
    fn put_connection(&self, c: &Connection)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Forget a connection (idempotent: an unknown id is not an error).
    fn delete_connection(&self, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The ids of every open connection of a user (one Query).
    fn user_connections(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// The ids of every open connection of an org's agents (one Query).
    fn org_agent_connections(
        &self,
        org_id: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
}

/// Why a frame was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// The socket is gone (API Gateway's 410): forget the connection.
    #[error("connection gone")]
    Gone,
    /// Anything else (throttled, unreachable, ...): worth a retry.
    #[error("push failed: {0}")]
    Failed(String),
}

/// API Gateway's `@connections` endpoint: push one text frame to a socket.
pub trait ConnectionSender: Send + Sync {
    fn post(
        &self,
        connection_id: &str,
        data: &[u8],
    ) -> impl Future<Output = Result<(), PostError>> + Send;
}
