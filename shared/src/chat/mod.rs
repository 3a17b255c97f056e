//! Booking chats: one conversation per booking between its customer and
//! provider over Twilio Conversations, split by capability.

pub mod create;
pub mod listing;
pub mod participants;
pub mod read;
pub mod send;
pub mod status;

#[cfg(test)]
mod tests;
