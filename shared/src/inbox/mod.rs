//! The WhatsApp/SMS org inbox: inbound processing, agents' replies and
//! provider statistics.

pub mod identity;
pub mod inbound;
pub mod media;
pub mod parked;
pub mod providers;
pub mod receipts;
pub mod reply;
pub mod start;
pub mod stats;

pub use crate::domain::inbox_conversation_id;
pub use inbound::{ProcessError, opt_keyword, process, resolve_org};

#[cfg(test)]
mod reply_tests;
#[cfg(test)]
mod tests;
