//! WhatsApp/SMS replies from an org's agents: the rules Twilio and WhatsApp
//! enforce, checked before calling Twilio (the 24-hour window, templates,
//! limits, opt-outs), and Twilio's refusals turned into clear errors.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::auth::{Caller, UserType};
use crate::clock::format_ts;
use crate::conversation::SendInput;
use crate::conversation::outgoing::finish_sent;
use crate::conversation::views::MessageView;
use crate::domain::ConversationStatus;
use crate::domain::new_message_id;
use crate::domain::{AuthorType, IdempotencyKey, MessageBody, MessageStatus};
use crate::error::ApiError;
use crate::idempotency::Claim;
use crate::idempotency::claim;
use crate::idempotency::release;
use crate::ports::{
    AccountStore, ConversationStore, IdempotencyStore, InboxStore, MessageStore, ProviderTransport,
};
use crate::store::{Head, Message};
use crate::transport::Refusal;
use crate::twilio::{OutboundMessage, TwilioError};

/// The WhatsApp customer-service window.
pub const WINDOW: Duration = Duration::hours(24);
pub const MAX_MEDIA: usize = 10;

/// A validated reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyContent {
    FreeForm {
        body: Option<MessageBody>,
        media_urls: Vec<String>,
    },
    Template {
        content_sid: String,
        /// A JSON object of strings, serialised.
        variables: Option<String>,
    },
    /// A Meta template (`{name, language: {code}, components?}`).
    MetaTemplate(Value),
}

impl ReplyContent {
    fn hash(&self) -> String {
        let text = match self {
            Self::FreeForm { body, media_urls } => json!({
                "body": body.as_ref().map(MessageBody::as_str),
                "media": media_urls,
            }),
            Self::Template {
                content_sid,
                variables,
            } => json!({"content_sid": content_sid, "variables": variables}),
            Self::MetaTemplate(t) => json!({"template": t}),
        };
        let d = Sha256::digest(text.to_string().as_bytes());
        d.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }
}

/// Parse a reply: a body and/or media, or a template; never both kinds.
pub fn validate(input: &SendInput) -> Result<ReplyContent, ApiError> {
    let media_urls = input.media_urls.clone().unwrap_or_default();
    if let Some(t) = &input.template {
        if input.body.is_some() || !media_urls.is_empty() || input.content_sid.is_some() {
            return Err(ApiError::unprocessable(
                "invalid_request",
                "send either a body (and media) or a template, not both",
            ));
        }
        return crate::inbox::providers::meta_template(t).map(ReplyContent::MetaTemplate);
    }
    if let Some(sid) = &input.content_sid {
        if input.body.is_some() || !media_urls.is_empty() {
            return Err(ApiError::unprocessable(
                "invalid_request",
                "send either a body (and media) or a template (content_sid), not both",
            ));
        }
        let valid_sid = sid.len() == 34
            && sid.starts_with("HX")
            && sid[2..].bytes().all(|b| b.is_ascii_hexdigit());
        if !valid_sid {
            return Err(ApiError::unprocessable(
                "invalid_content_sid",
                "content_sid must be a Twilio Content SID (HX + 32 hex characters)",
            ));
        }
        let variables = match &input.content_variables {
            None => None,
            Some(Value::Object(map)) if map.values().all(Value::is_string) && map.len() <= 100 => {
                Some(Value::Object(map.clone()).to_string())
            }
            Some(_) => {
                return Err(ApiError::unprocessable(
                    "invalid_content_variables",
                    "content_variables must be a JSON object of strings, e.g. {\"1\": \"Ana\"}",
                ));
            }
        };
        return Ok(ReplyContent::Template {
            content_sid: sid.clone(),
            variables,
        });
    }
    if input.content_variables.is_some() {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "content_variables need a content_sid",
        ));
    }
    if media_urls.len() > MAX_MEDIA {
        return Err(ApiError::unprocessable(
            "invalid_media_urls",
            format!("at most {MAX_MEDIA} media_urls"),
        ));
    }
    for url in &media_urls {
        let ok = url.starts_with("https://")
            && url.len() > "https://".len()
            && url.len() <= 2048
            && !url.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(ApiError::unprocessable(
                "invalid_media_urls",
                "media_urls must be https URLs",
            ));
        }
    }
    let body = match &input.body {
        Some(b) => Some(MessageBody::parse(b)?),
        None if media_urls.is_empty() => {
            return Err(ApiError::unprocessable(
                "invalid_request",
                "send a body, media_urls or a template (content_sid)",
            ));
        }
        None => None,
    };
    Ok(ReplyContent::FreeForm { body, media_urls })
}

/// Free-form WhatsApp messages only within 24 h of the contact's last
/// inbound message; templates any time; SMS has no window.
pub fn check_window(
    channel: &str,
    content: &ReplyContent,
    last_user_message_at: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if channel != "whatsapp"
        || matches!(
            content,
            ReplyContent::Template { .. } | ReplyContent::MetaTemplate(_)
        )
    {
        return Ok(());
    }
    let last = last_user_message_at
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    match last {
        Some(t) if now < t + WINDOW => Ok(()),
        Some(t) => Err(ApiError::OutsideWindow {
            closed_at: Some(format_ts(t + WINDOW)),
            twilio_code: None,
        }),
        None => Err(ApiError::OutsideWindow {
            closed_at: None,
            twilio_code: None,
        }),
    }
}

/// Twilio refusals a client can act on, with Twilio's code kept.
fn map_twilio(e: TwilioError) -> ApiError {
    ApiError::from_messaging(e)
}

/// What is refused before calling Twilio: a closed conversation, an
/// opted-out contact, no business number to send from, the 24-hour window.
fn check_rules(
    head: &Head,
    inbox: &crate::store::InboxMeta,
    content: &ReplyContent,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if head.meta.status == ConversationStatus::Closed {
        return Err(ApiError::conflict(
            "conversation_closed",
            "this conversation is closed; set it active to reply",
        ));
    }
    if inbox.opted_out {
        return Err(ApiError::unprocessable(
            "contact_opted_out",
            "the contact has opted out (replied STOP); they must send START first",
        ));
    }
    if inbox.business_address.is_empty() {
        return Err(ApiError::unprocessable(
            "no_business_number",
            "this conversation has no business number to reply from yet",
        ));
    }
    check_window(
        &inbox.channel,
        content,
        inbox.last_user_message_at.as_deref(),
        now,
    )
}

/// Send an agent's reply on a WhatsApp/SMS conversation.
pub async fn send_reply(
    app: &App<
        impl ConversationStore + MessageStore + IdempotencyStore + InboxStore + AccountStore,
        impl ProviderTransport,
    >,
    caller: &Caller,
    mut head: Head,
    input: &SendInput,
    key: Option<IdempotencyKey>,
) -> Result<(bool, MessageView), ApiError> {
    if caller.user_type != UserType::Agent {
        return Err(ApiError::forbidden(
            "agents_only",
            "only the org's agents reply on WhatsApp/SMS conversations",
        ));
    }
    let inbox = head
        .meta
        .inbox
        .clone()
        .ok_or_else(|| ApiError::Internal("not an inbox conversation".into()))?;
    let content = validate(input)?;
    crate::inbox::providers::check_content(inbox.provider, &content)?;
    let conv = head.meta.id.clone();
    let message_id = new_message_id();
    // A repeat of an earlier request answers as it did, whatever changed
    // since (window, opt-out, status): so the key is looked at first.
    let idem = match claim(app, &conv, caller, key, content.hash(), &message_id).await? {
        Claim::Fresh(idem) => idem,
        Claim::Replay(result) => return Ok(*result),
    };
    let now = app.clock.now();
    if let Err(refused) = check_rules(&head, &inbox, &content, now) {
        if let Some(record) = &idem
            && let Err(e) = app.store.abandon_idempotent(record).await
        {
            tracing::error!(error = %e, "could not release the idempotency record");
        }
        return Err(refused);
    }
    let (body, media, content_sid, variables) = match &content {
        ReplyContent::FreeForm { body, media_urls } => (
            body.as_ref().map(|b| b.as_str().to_string()),
            media_urls.clone(),
            None,
            None,
        ),
        ReplyContent::Template {
            content_sid,
            variables,
        } => (
            None,
            Vec::new(),
            Some(content_sid.clone()),
            variables.clone(),
        ),
        ReplyContent::MetaTemplate(_) => (None, Vec::new(), None, None),
    };
    let template = match &content {
        ReplyContent::MetaTemplate(t) => Some(t),
        _ => None,
    };
    let outbound = OutboundMessage {
        from: &inbox.business_address,
        to: &inbox.contact_address,
        body: body.as_deref(),
        content_sid: content_sid.as_deref(),
        content_variables: variables.clone(),
        media_urls: &media,
        status_callback: app.config.public_base_url.as_ref().map(|b| {
            format!(
                "{b}/webhooks/twilio/messaging{}",
                crate::twilio::CALLBACK_OVERRIDES
            )
        }),
        template,
    };
    let sent = match crate::inbox::providers::send(app, &inbox, &outbound).await {
        Ok(sent) => sent,
        Err(e) => {
            release(app, idem.as_ref(), &e).await;
            if e.refusal() == Some(Refusal::OptedOut)
                && let Err(se) = app.store.set_opted_out(&head.meta, &inbox, true).await
            {
                tracing::error!(error = %se, "could not record the opt-out");
            }
            return Err(map_twilio(e));
        }
    };
    let mut details = serde_json::Map::new();
    if !media.is_empty() {
        details.insert(
            "media".into(),
            media.iter().map(|u| json!({"url": u})).collect(),
        );
    }
    if let Some(sid) = &content_sid {
        let variables: Value = variables
            .as_deref()
            .and_then(|v| serde_json::from_str(v).ok())
            .unwrap_or(Value::Null);
        details.insert(
            "template".into(),
            json!({"content_sid": sid, "content_variables": variables}),
        );
    }
    if let Some(t) = template {
        details.insert("template".into(), t.clone());
    }
    let status = sent
        .status
        .as_deref()
        .and_then(MessageStatus::parse)
        .unwrap_or(MessageStatus::Queued);
    let msg = Message {
        id: message_id,
        conversation_id: conv,
        author_id: caller.user_id.clone(),
        author_type: AuthorType::Agent,
        body: body.unwrap_or_default(),
        created_at: format_ts(now),
        twilio_sid: Some(sent.sid.clone()),
        twilio_index: None,
        status,
        details: (!details.is_empty()).then_some(Value::Object(details)),
        error_code: None,
    };
    finish_sent(app, &app.outbox, &mut head, msg, now, idem.as_ref()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::hours(h)
    }

    fn free(body: &str) -> ReplyContent {
        validate(&SendInput {
            body: Some(body.into()),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn when_the_contact_wrote_within_24_hours_free_form_should_pass() {
        let last = format_ts(at(0));
        assert!(check_window("whatsapp", &free("hi"), Some(&last), at(23)).is_ok());
        let e = check_window("whatsapp", &free("hi"), Some(&last), at(25)).unwrap_err();
        assert_eq!(e.code(), "outside_customer_service_window");
        assert!(
            matches!(e, ApiError::OutsideWindow { closed_at: Some(ref c), .. } if c == &format_ts(at(24)))
        );
    }

    #[test]
    fn when_outside_the_window_a_template_or_sms_should_pass() {
        let last = format_ts(at(0));
        let template = validate(&SendInput {
            content_sid: Some(format!("HX{}", "a".repeat(32))),
            content_variables: Some(json!({"1": "Ana"})),
            ..Default::default()
        })
        .unwrap();
        assert!(check_window("whatsapp", &template, Some(&last), at(100)).is_ok());
        assert!(check_window("sms", &free("hi"), Some(&last), at(100)).is_ok());
        assert!(check_window("whatsapp", &free("hi"), None, at(0)).is_err());
    }

    #[test]
    fn when_the_reply_is_malformed_it_should_be_a_clear_422() {
        let cases = [
            (SendInput::default(), "invalid_request"),
            (
                SendInput {
                    body: Some("x".repeat(1601)),
                    ..Default::default()
                },
                "body_too_long",
            ),
            (
                SendInput {
                    content_sid: Some("HXnothex".into()),
                    ..Default::default()
                },
                "invalid_content_sid",
            ),
            (
                SendInput {
                    content_sid: Some(format!("HX{}", "0".repeat(32))),
                    content_variables: Some(json!({"1": 5})),
                    ..Default::default()
                },
                "invalid_content_variables",
            ),
            (
                SendInput {
                    content_sid: Some(format!("HX{}", "0".repeat(32))),
                    body: Some("both".into()),
                    ..Default::default()
                },
                "invalid_request",
            ),
            (
                SendInput {
                    media_urls: Some(vec!["http://insecure.example/a.jpg".into()]),
                    ..Default::default()
                },
                "invalid_media_urls",
            ),
            (
                SendInput {
                    media_urls: Some(vec!["https://x.example/a.jpg".into(); 11]),
                    ..Default::default()
                },
                "invalid_media_urls",
            ),
        ];
        for (input, code) in cases {
            let e = validate(&input).unwrap_err();
            assert_eq!((e.status().as_u16(), e.code()), (422, code), "{input:?}");
        }
        assert!(
            validate(&SendInput {
                media_urls: Some(vec!["https://x.example/a.jpg".into()]),
                ..Default::default()
            })
            .is_ok()
        );
    }

    #[test]
    fn when_twilio_refuses_it_should_map_to_an_actionable_error() {
        let api = |code| TwilioError::Api {
            status: 400,
            code: Some(code),
            message: "m".into(),
            more_info: None,
        };
        assert_eq!(map_twilio(api(21211)).code(), "invalid_recipient");
        assert_eq!(map_twilio(api(63024)).code(), "invalid_recipient");
        assert_eq!(
            map_twilio(api(63016)).code(),
            "outside_customer_service_window"
        );
        assert_eq!(map_twilio(api(21610)).code(), "contact_opted_out");
        assert_eq!(
            map_twilio(TwilioError::RateLimited { retry_after: None }).status(),
            429
        );
        let e = map_twilio(TwilioError::Api {
            status: 500,
            code: Some(20500),
            message: "m".into(),
            more_info: None,
        });
        assert_eq!(e.status(), 502);
    }
}
