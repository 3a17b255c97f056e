//! A conversation's items (its meta item, inbox or booking, and its
//! participant items) read into their models.
//!
//! The head's `Query` and the meta's `GetItem` are on every message's
//! path, so their answers are read straight into a [`ConvRow`] (a
//! [`Record`]): one place per attribute the models use, the attributes
//! they do not use (keys, GSI keys) skipped unread. An [`Item`] from the
//! SDK or a stream record's image goes into the same [`ConvRow`]
//! ([`record_of`]), so there is one reading of each model.

use aws_sdk_dynamodb::types::AttributeValue;

use super::StoreError;
use super::item::{Item, get_bool, missing_s, take_s};
use crate::domain::{ConversationStatus, ParticipantType, Provider};
use crate::dynamo::{Record, record_of};
use crate::model::{ConversationMeta, InboxMeta, Participant, ParticipantSummary};

/// Attribute names of one type, each with its place in a [`ConvRow`].
macro_rules! names {
    ($ty:ident, $names:ident: $($v:ident = $n:literal),* $(,)?) => {
        #[derive(Clone, Copy, Debug)]
        pub(super) enum $ty { $($v),* }
        const $names: &[&str] = &[$($n),*];
        impl $ty {
            fn of(name: &str) -> Option<Self> {
                match name {
                    $($n => Some(Self::$v),)*
                    _ => None,
                }
            }
        }
    };
}

names!(S, S_NAMES:
    Sk = "SK", Id = "id", Kind = "kind", BookingId = "booking_id", Status = "status",
    TwilioSid = "twilio_sid", CreatedAt = "created_at", CreatedBy = "created_by",
    FirstMessageAt = "first_message_at", LastMessageAt = "last_message_at",
    LastMessageId = "last_message_id", LastMessagePreview = "last_message_preview",
    LastMessageAuthor = "last_message_author", PendingSide = "pending_side",
    PendingSince = "pending_since", OrgId = "org_id", Provider = "provider",
    Channel = "channel", ContactAddress = "contact_address", ContactName = "contact_name",
    BusinessAddress = "business_address", LastUserMessageAt = "last_user_message_at",
    LastReadAt = "last_read_at", UserId = "user_id", UserType = "user_type",
    DisplayName = "display_name", Identity = "identity", JoinedAt = "joined_at",
    LeftAt = "left_at", LastReadMessageId = "last_read_message_id",
);
names!(N, N_NAMES:
    Version = "version", MessageCount = "message_count",
    ParticipantCount = "participant_count", LastMessageIndex = "last_message_index",
    ResponseCount = "response_count", ResponseTotalMs = "response_total_ms",
    FirstResponseMs = "first_response_ms", UnreadCount = "unread_count",
);
names!(B, B_NAMES: IsActive = "is_active", OptedOut = "opted_out");

/// Where an attribute of a conversation's item goes.
#[derive(Clone, Copy, Debug)]
pub(super) enum Slot {
    S(S),
    N(N),
    B(B),
    Participants,
}

/// A conversation's meta or participant item, by attribute: a string
/// attribute that is not a string, a number that does not parse or a
/// boolean that is not one reads as absent, as the item helpers read it.
#[derive(Debug)]
pub(super) struct ConvRow {
    s: [Option<String>; S_NAMES.len()],
    n: [Option<i64>; N_NAMES.len()],
    b: [Option<bool>; B_NAMES.len()],
    participants: Option<AttributeValue>,
}

impl Default for ConvRow {
    fn default() -> Self {
        Self {
            s: std::array::from_fn(|_| None),
            n: [None; N_NAMES.len()],
            b: [None; B_NAMES.len()],
            participants: None,
        }
    }
}

impl Record for ConvRow {
    type Slot = Slot;

    fn slot(name: &str) -> Option<Slot> {
        if name == "participants" {
            return Some(Slot::Participants);
        }
        S::of(name)
            .map(Slot::S)
            .or_else(|| N::of(name).map(Slot::N))
            .or_else(|| B::of(name).map(Slot::B))
    }

    fn put(&mut self, slot: Slot, value: AttributeValue) {
        match slot {
            Slot::S(k) => {
                self.s[k as usize] = match value {
                    AttributeValue::S(v) => Some(v),
                    _ => None,
                }
            }
            Slot::N(k) => self.n[k as usize] = value.as_n().ok().and_then(|v| v.parse().ok()),
            Slot::B(k) => self.b[k as usize] = value.as_bool().ok().copied(),
            Slot::Participants => self.participants = Some(value),
        }
    }
}

impl ConvRow {
    /// The item's sort key: `#META` or `#PART#<user>`.
    pub(super) fn sk(&self) -> Option<&str> {
        self.s[S::Sk as usize].as_deref()
    }

    fn take(&mut self, k: S) -> Option<String> {
        self.s[k as usize].take()
    }

    fn req(&mut self, k: S) -> Result<String, StoreError> {
        self.take(k).ok_or_else(|| missing_s(S_NAMES[k as usize]))
    }

    fn n(&self, k: N) -> Option<i64> {
        self.n[k as usize]
    }

    fn b(&self, k: B) -> Option<bool> {
        self.b[k as usize]
    }

    /// The conversation's model (a corrupt item is an error, never a
    /// guess).
    pub(super) fn into_meta(mut self) -> Result<ConversationMeta, StoreError> {
        let participants = match self.participants.take() {
            Some(AttributeValue::L(list)) => list
                .into_iter()
                .filter_map(|v| match v {
                    AttributeValue::M(m) => Some(m),
                    _ => None,
                })
                .map(|mut m| {
                    Ok(ParticipantSummary {
                        user_id: take_s(&mut m, "user_id").unwrap_or_default(),
                        user_type: stored_participant_type(
                            &take_s(&mut m, "user_type").unwrap_or_default(),
                        )?,
                        display_name: take_s(&mut m, "display_name").unwrap_or_default(),
                        is_active: get_bool(&m, "is_active").unwrap_or(false),
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            _ => Vec::new(),
        };
        Ok(ConversationMeta {
            id: self.req(S::Id)?,
            kind: self.req(S::Kind)?,
            booking_id: self.take(S::BookingId),
            status: stored_status(&self.req(S::Status)?)?,
            twilio_sid: self.take(S::TwilioSid),
            created_at: self.req(S::CreatedAt)?,
            created_by: self.take(S::CreatedBy).unwrap_or_default(),
            version: self.n(N::Version).unwrap_or(0),
            message_count: self.n(N::MessageCount).unwrap_or(0),
            participant_count: self.n(N::ParticipantCount).unwrap_or(0),
            first_message_at: self.take(S::FirstMessageAt),
            last_message_at: self.take(S::LastMessageAt),
            last_message_id: self.take(S::LastMessageId),
            last_message_preview: self.take(S::LastMessagePreview),
            last_message_author: self.take(S::LastMessageAuthor),
            last_message_index: self.n(N::LastMessageIndex),
            response_count: self.n(N::ResponseCount).unwrap_or(0),
            response_total_ms: self.n(N::ResponseTotalMs).unwrap_or(0),
            first_response_ms: self.n(N::FirstResponseMs),
            pending_side: self.take(S::PendingSide),
            pending_since: self.take(S::PendingSince),
            participants,
            inbox: self.inbox()?,
        })
    }

    /// The inbox part of a conversation item (`None`: a booking chat).
    fn inbox(&mut self) -> Result<Option<InboxMeta>, StoreError> {
        let Some(org_id) = self.take(S::OrgId) else {
            return Ok(None);
        };
        let provider = match self.take(S::Provider) {
            None => Provider::Twilio,
            Some(p) => Provider::parse(&p)
                .map_err(|_| StoreError::Corrupt(format!("conversation provider {p:?}")))?,
        };
        Ok(Some(InboxMeta {
            org_id,
            provider,
            channel: self.take(S::Channel).unwrap_or_default(),
            contact_address: self.take(S::ContactAddress).unwrap_or_default(),
            contact_name: self.take(S::ContactName),
            business_address: self.take(S::BusinessAddress).unwrap_or_default(),
            last_user_message_at: self.take(S::LastUserMessageAt),
            unread_count: self.n(N::UnreadCount).unwrap_or(0),
            last_read_at: self.take(S::LastReadAt),
            opted_out: self.b(B::OptedOut).unwrap_or(false),
        }))
    }

    /// A participant's model.
    pub(super) fn into_participant(mut self) -> Result<Participant, StoreError> {
        Ok(Participant {
            user_id: self.req(S::UserId)?,
            user_type: stored_participant_type(&self.req(S::UserType)?)?,
            display_name: self.take(S::DisplayName).unwrap_or_default(),
            identity: self.take(S::Identity).unwrap_or_default(),
            twilio_sid: self.take(S::TwilioSid),
            is_active: self.b(B::IsActive).unwrap_or(false),
            joined_at: self.take(S::JoinedAt).unwrap_or_default(),
            left_at: self.take(S::LeftAt),
            unread_count: self.n(N::UnreadCount).unwrap_or(0),
            last_read_at: self.take(S::LastReadAt),
            last_read_message_id: self.take(S::LastReadMessageId),
        })
    }
}

/// A conversation's meta item, read into its model (the item's strings
/// are moved, not copied).
pub(super) fn meta_from(i: Item) -> Result<ConversationMeta, StoreError> {
    record_of::<ConvRow>(i).into_meta()
}

/// A participant item, read into its model (strings moved, not copied).
pub(super) fn participant_from(i: Item) -> Result<Participant, StoreError> {
    record_of::<ConvRow>(i).into_participant()
}

/// A stored status; anything else is a corrupt item, never a guess.
fn stored_status(s: &str) -> Result<ConversationStatus, StoreError> {
    ConversationStatus::parse(s)
        .map_err(|_| StoreError::Corrupt(format!("conversation status {s:?}")))
}

/// A stored participant type; anything else is a corrupt item.
fn stored_participant_type(s: &str) -> Result<ParticipantType, StoreError> {
    ParticipantType::parse(s).map_err(|_| StoreError::Corrupt(format!("participant type {s:?}")))
}

#[cfg(test)]
mod tests;
