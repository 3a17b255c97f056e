//! A message's delivery status and the order statuses move in.

use serde::Serialize;

/// Twilio's message statuses (Messages API and Conversations delivery).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Accepted,
    Scheduled,
    Queued,
    Sending,
    Sent,
    Receiving,
    Received,
    Delivered,
    Read,
    Failed,
    Undelivered,
    Canceled,
}

impl MessageStatus {
    pub const ALL: [Self; 12] = [
        Self::Accepted,
        Self::Scheduled,
        Self::Queued,
        Self::Sending,
        Self::Sent,
        Self::Receiving,
        Self::Received,
        Self::Delivered,
        Self::Read,
        Self::Failed,
        Self::Undelivered,
        Self::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Scheduled => "scheduled",
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Receiving => "receiving",
            Self::Received => "received",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
            Self::Undelivered => "undelivered",
            Self::Canceled => "canceled",
        }
    }

    /// A status Twilio sent; `None` for one this backend does not know (it
    /// cannot be ordered, so it never moves a message).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The order statuses move in: only ever to a higher rank; `failed`,
    /// `undelivered` and `canceled` are terminal.
    pub fn rank(self) -> i64 {
        match self {
            Self::Accepted | Self::Scheduled => 1,
            Self::Queued => 2,
            Self::Sending => 3,
            Self::Sent | Self::Receiving | Self::Received => 4,
            Self::Delivered => 5,
            Self::Read => 6,
            Self::Failed | Self::Undelivered | Self::Canceled => 9,
        }
    }
}

impl MessageStatus {
    /// A delivery failure (terminal, but not a cancellation).
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Undelivered)
    }

    /// `self` replaces a recorded status ranked below this. A failure never
    /// replaces a confirmed delivery (`delivered`, `read`): a late `failed`
    /// after `delivered` keeps its error code on the message but does not
    /// move it.
    pub fn replaces_below(self) -> i64 {
        if self.is_failure() {
            Self::Delivered.rank()
        } else {
            self.rank()
        }
    }
}

impl std::fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rank of a status given as text (0 for an unknown one).
pub fn status_rank(status: &str) -> i64 {
    MessageStatus::parse(status).map_or(0, MessageStatus::rank)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_status_is_parsed_it_should_round_trip_and_know_nothing_else() {
        for s in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(MessageStatus::parse("Delivered"), None);
        assert_eq!(MessageStatus::parse("partially_delivered"), None);
    }

    #[test]
    fn when_a_failure_comes_after_a_delivery_it_should_not_replace_it() {
        use MessageStatus::*;
        let replaces = |new: MessageStatus, old: MessageStatus| old.rank() < new.replaces_below();
        assert!(replaces(Failed, Sent));
        assert!(replaces(Undelivered, Queued));
        assert!(!replaces(Failed, Delivered));
        assert!(!replaces(Undelivered, Read));
        assert!(replaces(Read, Delivered));
        assert!(!replaces(Delivered, Failed), "a failure stays terminal");
    }
}
