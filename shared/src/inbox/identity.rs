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
use crate::ports::{ContactStore, InboxStore, StoreError};
use crate::provider::ContactIds;

/// The conversation of a contact and the address replies go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub conversation_id: String,
    pub address: String,
    /// Addresses of the contact not linked to the conversation yet.
    pub unlinked: Vec<String>,
}

fn cache_key(org: &str, c: &ContactIds, address: &str) -> String {
    format!("{org}#{}#{address}", c.provider)
}

/// Find (or derive) the conversation of `contact` in `org`.
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
    // SMS has no business-scoped ids: the number is the contact.
    if contact.channel == crate::domain::Channel::Sms {
        return Ok(Resolved {
            conversation_id: derive(&address),
            address,
            unlinked: Vec::new(),
        });
    }
    // Links never change once written: a warm cache answers most messages.
    let cached: Vec<Option<String>> = addresses
        .iter()
        .map(|a| app.contacts.get(&cache_key(org, contact, a)))
        .collect();
    let linked = if cached.iter().all(Option::is_some) {
        addresses
            .iter()
            .cloned()
            .zip(cached.into_iter().flatten())
            .collect()
    } else {
        app.store
            .contact_links(org, contact.provider, &addresses)
            .await?
    };
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
        return Ok(Resolved {
            unlinked: unlinked(&conv),
            conversation_id: conv,
            address,
        });
    }
    // Nothing linked yet: a conversation stored by phone before BSUIDs (or
    // before links) is found by its derived id.
    if let Some(phone) = contact.phone_address() {
        let by_phone = derive(&phone);
        if contact.user_id.is_none() || app.store.conversation_meta(&by_phone).await?.is_some() {
            return Ok(Resolved {
                unlinked: unlinked(&by_phone),
                conversation_id: by_phone,
                address,
            });
        }
    }
    let conv = derive(&addresses[0]);
    Ok(Resolved {
        unlinked: unlinked(&conv),
        conversation_id: conv,
        address,
    })
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
