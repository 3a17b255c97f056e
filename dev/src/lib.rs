//! The local stack: a gateway that routes like API Gateway (routes read from
//! `template.yaml`) to the functions' linked handlers, a Twilio stand-in, and
//! table set-up on the local DynamoDB emulator.

pub mod bookings;
pub mod devapi;
pub mod faults;
pub mod gateway;
pub mod meta_standin;
pub mod poller;
pub mod setup;
pub mod stack;
pub mod standin;
pub mod streams;
pub mod template;
pub mod websocket;
