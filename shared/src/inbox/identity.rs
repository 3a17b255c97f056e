//! One conversation per contact, whichever address the contact writes from.
//!
//! A contact is known by its business-scoped id (BSUID) when the provider
//! reports one, and by its phone number when known. Every address seen is
//! linked to the contact's conversation (`CONTACTID#…` items, written once,
//! never re-pointed), so a contact first seen by phone and later by BSUID
//! (or the other way round) stays one conversation. A new contact's
//! conversation id is derived from its BSUID when it has one, else from its
//! phone number (as before BSUIDs, so existing conversations keep their ids).

use crate::app::Core;
use crate::domain::inbox_conversation_id;
use crate::model::ConversationMeta;
use crate::ports::{ContactStore, InboxStore, StoreError};
use crate::provider::ContactIds;

/// The conversation of a contact and the address replies go to.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub conversation_id: String,
    pub address: String,
    /// Addresses of the contact not linked to the conversation yet.
    pub unlinked: Vec<String>,
    /// The conversation item, when resolving had to read it already
    /// (`Some(None)`: it does not exist yet), so the write need not.
    pub read: Option<Option<ConversationMeta>>,
}

fn cache_key(org: &str, c: &ContactIds, address: &str) -> String {
    format!("{org}#{}#{address}", c.provider)
}

/// Find (or derive) the conversation of `contact` in `org`.
///
/// Requests: none for SMS; for a phone-only WhatsApp contact, the
/// conversation read the write needs anyway, plus one BatchGetItem of links
/// when no conversation is derived from the phone (a new contact, or one
/// first seen by BSUID); for a contact with a BSUID, one BatchGetItem of
/// links (none when a warm cache knows them).
pub async fn resolve(
    app: &Core<impl ContactStore + InboxStore>,
    org: &str,
    contact: &ContactIds,
) -> Result<Resolved, StoreError> {
    let addresses = contact.addresses();
    let address = contact
        .reply_address()
        .ok_or_else(|| StoreError::Corrupt("a contact without any address".into()))?;
    let derive = |a: &str| {
        inbox_conversation_id(org, contact.provider.as_str(), contact.channel.as_str(), a)
    };
    let done = |conv: String, unlinked: Vec<String>, read| Resolved {
        conversation_id: conv,
        address: address.clone(),
        unlinked,
        read,
    };
    // SMS has no business-scoped ids: the number is the contact.
    if contact.channel == crate::domain::Channel::Sms {
        return Ok(done(derive(&address), Vec::new(), None));
    }
    // Links never change once written: a warm cache answers most messages.
    let cached = addresses
        .iter()
        .find_map(|a| app.contacts.get(&cache_key(org, contact, a)));
    let all_cached = addresses
        .iter()
        .all(|a| app.contacts.get(&cache_key(org, contact, a)).is_some());
    if let (Some(conv), true) = (&cached, all_cached) {
        return Ok(done(conv.clone(), Vec::new(), None));
    }
    // A phone-only contact whose conversation is derived from the phone.
    let mut read = None;
    if contact.user_id.is_none()
        && let Some(phone) = contact.phone_address()
    {
        let by_phone = derive(&phone);
        let meta = app.store.conversation_meta(&by_phone).await?;
        if meta.is_some() {
            return Ok(done(by_phone, Vec::new(), Some(meta)));
        }
        read = Some((by_phone, meta));
    }
    let linked = app
        .store
        .contact_links(org, contact.provider, &addresses)
        .await?;
    for (a, conv) in &linked {
        app.contacts.put(&cache_key(org, contact, a), conv);
    }
    let unlinked = |conv: &str| {
        addresses
            .iter()
            .filter(|a| !linked.iter().any(|(l, c)| l == *a && c == conv))
            .cloned()
            .collect::<Vec<_>>()
    };
    // BSUID first: it is what identifies the contact.
    if let Some(conv) = addresses
        .iter()
        .find_map(|a| linked.iter().find(|(l, _)| l == a).map(|(_, c)| c.clone()))
    {
        return Ok(done(conv.clone(), unlinked(&conv), None));
    }
    if let Some((by_phone, meta)) = read {
        // A new phone-only contact.
        return Ok(done(by_phone.clone(), unlinked(&by_phone), Some(meta)));
    }
    // Nothing linked yet: a conversation stored by phone before BSUIDs (or
    // before links) is found by its derived id.
    if let Some(phone) = contact.phone_address() {
        let by_phone = derive(&phone);
        let meta = app.store.conversation_meta(&by_phone).await?;
        if meta.is_some() {
            return Ok(done(by_phone.clone(), unlinked(&by_phone), Some(meta)));
        }
    }
    let conv = derive(&addresses[0]);
    Ok(done(conv.clone(), unlinked(&conv), None))
}

/// Link the contact's addresses not linked yet (after the message is
/// stored; a crash before this only repeats the look-up next time).
pub async fn link(
    app: &Core<impl ContactStore>,
    org: &str,
    contact: &ContactIds,
    resolved: &Resolved,
) -> Result<(), StoreError> {
    for a in &resolved.unlinked {
        // A phone-only contact's conversation is found by its derived id;
        // a link is written once a second address (a BSUID) appears.
        if contact.user_id.is_none() {
            break;
        }
        let conv = app
            .store
            .link_contact(org, contact.provider, a, &resolved.conversation_id)
            .await?;
        if conv != resolved.conversation_id {
            // Linked meanwhile to another conversation (two first messages
            // raced on different addresses): the first link stays.
            tracing::warn!(
                conversation_id = %resolved.conversation_id,
                linked_to = %conv,
                "a contact address was already linked to another conversation"
            );
        }
        app.contacts.put(&cache_key(org, contact, a), &conv);
    }
    Ok(())
}
