//! Conversation status and what a change of it does to an org's provider
//! statistics: the rules, kept out of the store.

use serde::Serialize;

use super::DomainError;

/// `active`, `escalated` or `closed`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationStatus {
    #[default]
    Active,
    Escalated,
    Closed,
}

impl ConversationStatus {
    pub const ALL: [Self; 3] = [Self::Active, Self::Escalated, Self::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Escalated => "escalated",
            Self::Closed => "closed",
        }
    }

    /// A status from an API client.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                DomainError::invalid(
                    "invalid_status",
                    "status must be active, escalated or closed",
                )
            })
    }

    /// The status after a contact writes: an inbound message reopens a
    /// closed conversation; escalated stays escalated.
    pub fn after_inbound(self) -> Self {
        match self {
            Self::Closed => Self::Active,
            other => other,
        }
    }
}

impl std::fmt::Display for ConversationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a provider's counters move: conversations in all, active ones,
/// escalated ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsDelta {
    pub total: i64,
    pub active: i64,
    pub escalated: i64,
}

impl StatsDelta {
    /// A conversation going from `from` (`None`: it is new) to `to`.
    pub fn of_change(from: Option<ConversationStatus>, to: ConversationStatus) -> Self {
        let weight = |s: Option<ConversationStatus>, wanted| i64::from(s == Some(wanted));
        Self {
            total: i64::from(from.is_none()),
            active: weight(Some(to), ConversationStatus::Active)
                - weight(from, ConversationStatus::Active),
            escalated: weight(Some(to), ConversationStatus::Escalated)
                - weight(from, ConversationStatus::Escalated),
        }
    }

    pub fn is_zero(self) -> bool {
        self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::ConversationStatus::*;
    use super::*;

    #[test]
    fn when_a_status_is_parsed_only_the_three_should_be_accepted() {
        assert_eq!(ConversationStatus::parse("escalated"), Ok(Escalated));
        assert_eq!(
            ConversationStatus::parse("open").unwrap_err().code(),
            "invalid_status"
        );
        assert_eq!(
            ConversationStatus::parse("Closed").unwrap_err().code(),
            "invalid_status"
        );
    }

    #[test]
    fn when_a_contact_writes_a_closed_conversation_should_reopen_and_others_stay() {
        assert_eq!(Closed.after_inbound(), Active);
        assert_eq!(Escalated.after_inbound(), Escalated);
        assert_eq!(Active.after_inbound(), Active);
    }

    #[test]
    fn when_the_status_changes_the_counters_should_move_by_the_difference() {
        let d = |total, active, escalated| StatsDelta {
            total,
            active,
            escalated,
        };
        assert_eq!(StatsDelta::of_change(None, Active), d(1, 1, 0));
        assert_eq!(StatsDelta::of_change(None, Closed), d(1, 0, 0));
        assert_eq!(StatsDelta::of_change(Some(Active), Escalated), d(0, -1, 1));
        assert_eq!(StatsDelta::of_change(Some(Escalated), Closed), d(0, 0, -1));
        assert_eq!(StatsDelta::of_change(Some(Closed), Active), d(0, 1, 0));
        assert!(StatsDelta::of_change(Some(Active), Active).is_zero());
    }
}
