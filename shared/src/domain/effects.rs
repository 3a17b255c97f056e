//! What a new message does to a conversation's analytics.

use chrono::{DateTime, Utc};

use crate::clock::format_ts;
use crate::domain::{AuthorType, truncate};

/// Analytics changes computed by the caller for one new message.
#[derive(Clone, Debug)]
pub struct MessageEffects {
    pub preview: String,
    /// Milliseconds since the other side's pending message, if this answers it.
    pub response_ms: Option<i64>,
    pub pending_side: String,
    pub pending_since: String,
}

/// Which side a message comes from, for response-time analytics.
fn side_of(author: AuthorType) -> &'static str {
    if author.is_customer_side() {
        "customer"
    } else {
        "business"
    }
}

/// The analytics a new message causes: it answers the other side's
/// pending message (a response time), or extends its own side's turn.
pub fn message_effects(
    pending_side: Option<&str>,
    pending_since: Option<&str>,
    author_type: AuthorType,
    body: &str,
    now: DateTime<Utc>,
) -> MessageEffects {
    let side = side_of(author_type);
    let now_s = format_ts(now);
    let preview = truncate(body, 100);
    match (pending_side, pending_since) {
        (Some(ps), Some(since)) if ps == side => MessageEffects {
            preview,
            response_ms: None,
            pending_side: ps.to_string(),
            pending_since: since.to_string(),
        },
        (Some(_), Some(since)) => {
            let response_ms = DateTime::parse_from_rfc3339(since)
                .ok()
                .map(|t| (now - t.with_timezone(&Utc)).num_milliseconds().max(0));
            MessageEffects {
                preview,
                response_ms,
                pending_side: side.into(),
                pending_since: now_s,
            }
        }
        _ => MessageEffects {
            preview,
            response_ms: None,
            pending_side: side.into(),
            pending_since: now_s,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn when_the_other_side_answers_it_should_count_a_response_time() {
        let fx = message_effects(None, None, AuthorType::Customer, "hi", at(0));
        assert_eq!(
            (fx.response_ms, fx.pending_side.as_str()),
            (None, "customer")
        );
        let (side, since) = (
            Some(fx.pending_side.as_str()),
            Some(fx.pending_since.as_str()),
        );
        // The customer again: still waiting since the first message.
        let fx2 = message_effects(side, since, AuthorType::Customer, "hello?", at(30));
        assert_eq!(fx2.response_ms, None);
        assert_eq!(fx2.pending_since, format_ts(at(0)));
        // The provider answers 90 s after the first unanswered message.
        let fx3 = message_effects(side, since, AuthorType::Provider, "on my way", at(90));
        assert_eq!(fx3.response_ms, Some(90_000));
        assert_eq!(fx3.pending_side, "business");
    }

    #[test]
    fn when_a_preview_is_long_it_should_be_cut_at_100_chars() {
        let fx = message_effects(None, None, AuthorType::Customer, &"ß".repeat(300), at(0));
        assert_eq!(fx.preview.chars().count(), 100);
    }
}
