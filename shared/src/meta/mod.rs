//! Meta's WhatsApp Cloud API as an inbox provider: the signed webhook
//! (`webhook`, `signature`), its normalisation into the neutral events of
//! `provider`, and the Graph API client for replies (`client`).
//! Provider-specific rules (Meta's error codes, `to` vs `recipient`) live
//! here; the inbox rules stay provider-neutral.

pub mod client;
pub mod signature;
pub mod webhook;

pub use client::{MetaClient, MetaConfig, MetaContent};

#[cfg(test)]
mod tests;
