//! Real-time push over API Gateway's WebSocket API.
//!
//! - [`connect`]: `$connect` (the HTTP API's JWT as `?token=` or a
//!   `Sec-WebSocket-Protocol` entry) and `$disconnect`.
//! - [`events`]: one event shape for every kind, and which stored change
//!   becomes which event.
//! - [`deliver`]: the `push` function's rules — DynamoDB Streams records in,
//!   frames to exactly the sockets the HTTP API would show the data to.
//! - [`apigw`]: the `@connections` management client.
//!
//! Events come from one place: the table's stream. No writer (send-message,
//! process-inbound, mark-as-read, participants, status) knows about sockets,
//! so a push can never slow or fail the write that caused it.

pub mod apigw;
pub mod connect;
pub mod deliver;
pub mod events;
