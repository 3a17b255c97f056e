//! Integration tests over real HTTP against the local DynamoDB emulator and
//! the Twilio stand-in, compiled as one binary.

mod access;
mod booking_flow;
mod concurrency;
mod contract;
mod errors;
mod events;
mod helpers;
mod idempotency;
mod pagination;
mod participants;
mod request_counts;
mod routes;
mod twilio_failures;
