//! Integration tests over real HTTP against the local DynamoDB emulator and
//! the Twilio stand-in, compiled as one binary.

mod booking_flow;
mod helpers;
