//! Everything the functions share: configuration, identity, domain types,
//! the DynamoDB store, the Twilio client, the booking-chat operations and the
//! HTTP glue that turns them into API Gateway responses.

pub mod accounts;
pub mod app;
pub mod auth;
pub mod aws;
pub mod awsjson;
pub mod bookings;
pub mod chat;
pub mod clock;
pub mod config;
pub mod connections;
pub mod conversation;
pub mod cursor;
pub mod domain;
pub mod dynamo;
pub mod envelope;
pub mod error;
pub mod h1;
pub mod http;
pub mod https;
pub mod idempotency;
pub mod inbox;
pub mod ingest;
pub mod json;
pub mod jwt;
pub mod lambda;
pub mod media;
#[cfg(test)]
pub mod memory;
pub mod meta;
pub mod model;
pub mod outbox;
pub mod ownership;
pub mod ports;
pub mod provider;
pub mod push;
pub mod secrets;
pub mod signature;
pub mod sigv4;
pub mod sqs;
pub mod store;
pub mod tls;
pub mod transport;
pub mod twilio;
pub mod vault;

pub use app::{App, Core};
pub use error::ApiError;
