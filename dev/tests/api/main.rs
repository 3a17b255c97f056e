//! Integration tests over real HTTP against the local DynamoDB emulator and
//! the Twilio stand-in, compiled as one binary.

mod access;
mod booking_directory;
mod booking_flow;
mod chat_accounts;
mod concurrency;
mod contract;
mod conversation_status;
mod conversations_events;
mod errors;
mod events;
mod fault_suite;
mod helpers;
mod idempotency;
mod inbound_pipeline;
mod local_stack;
mod media;
mod meta;
mod org_inbox;
mod outbox;
mod pagination;
mod participants;
mod provider_stats;
mod raw_events;
mod realtime;
mod replies;
mod request_counts;
mod routes;
mod secrets;
mod sid_guard;
mod sqs;
mod start_conversation;
mod statuses;
mod tenants;
mod twilio_failures;
mod typing;
