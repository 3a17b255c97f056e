//! Replies through the conversation's provider: Twilio's Messages API, or
//! Meta's Graph API with the org's access token from the Meta chat account.

use serde_json::{Value, json};
use std::sync::Arc;

use crate::app::Core;
use crate::inbox::inbound::route;
use crate::vault::TwilioAccount;

use crate::app::App;
use crate::domain::Provider;
use crate::error::ApiError;
use crate::inbox::reply::ReplyContent;
use crate::model::{InboxMeta, Secret};
use crate::ports::{AccountStore, ProviderAuth, ProviderTransport};
use crate::transport::{OutboundMessage, SmsResource, TwilioError};

/// A Meta template as the Graph API takes it: `name` (lowercase letters,
/// digits, `_`), `language` as `{"code": "en_US"}` (or just `"en_US"`),
/// optional `components` (an array of objects, passed through).
pub fn meta_template(t: &Value) -> Result<Value, ApiError> {
    let bad = |m: &str| ApiError::unprocessable("invalid_template", m.to_string());
    let obj = t
        .as_object()
        .ok_or_else(|| bad("template must be an object {name, language, components?}"))?;
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| {
            !n.is_empty()
                && n.len() <= 512
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .ok_or_else(|| bad("template.name must be a template name (a-z, 0-9, _)"))?;
    let code = match obj.get("language") {
        Some(Value::String(c)) => Some(c.as_str()),
        Some(Value::Object(l)) => l.get("code").and_then(Value::as_str),
        _ => None,
    }
    .filter(|c| {
        (2..=15).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
    .ok_or_else(|| bad("template.language must be a language code such as en_US"))?;
    let mut out = json!({"name": name, "language": {"code": code}});
    match obj.get("components") {
        None | Some(Value::Null) => {}
        Some(Value::Array(c)) if c.len() <= 20 && c.iter().all(Value::is_object) => {
            out["components"] = Value::Array(c.clone());
        }
        Some(_) => return Err(bad("template.components must be an array of objects")),
    }
    if out.to_string().len() > 16 * 1024 {
        return Err(bad("template is too large"));
    }
    Ok(out)
}

/// Each provider's own kind of template, and Meta's one medium per message.
pub fn check_content(provider: Provider, content: &ReplyContent) -> Result<(), ApiError> {
    match (provider, content) {
        (Provider::Meta, ReplyContent::Template { .. }) => Err(ApiError::unprocessable(
            "invalid_request",
            "this is a Meta conversation: send a template {name, language, components}, not content_sid",
        )),
        (Provider::Twilio, ReplyContent::MetaTemplate(_)) => Err(ApiError::unprocessable(
            "invalid_request",
            "this is a Twilio conversation: send content_sid (+ content_variables), not template",
        )),
        (Provider::Meta, ReplyContent::FreeForm { media_urls, .. }) if media_urls.len() > 1 => {
            Err(ApiError::unprocessable(
                "invalid_media_urls",
                "WhatsApp Cloud API messages carry one medium each",
            ))
        }
        (Provider::Kommo, _) => Err(ApiError::unprocessable(
            "provider_not_wired",
            "Kommo conversations are imported and counted only; replies are not sent",
        )),
        _ => Ok(()),
    }
}

/// The org's own Twilio account a business number belongs to, with its
/// credentials (`None`: the environment's account sends). Nothing is sent
/// when the number names an account whose credentials are not this org's.
pub(crate) async fn twilio_account_of(
    app: &Core<impl AccountStore>,
    org: &str,
    from: &str,
) -> Result<Option<Arc<TwilioAccount>>, TwilioError> {
    // The processor's routing (cached): the number's account, if any.
    let sid = route(app, Provider::Twilio, from)
        .await
        .map_err(|e| TwilioError::Unavailable(format!("chat account: {e}")))?
        .and_then(|r| r.twilio_account);
    let Some(sid) = sid else {
        return Ok(None);
    };
    let account = app
        .vault
        .twilio_account(&sid)
        .await
        .map_err(|e| TwilioError::Unavailable(format!("account credentials: {e}")))?;
    match account {
        Some(a) if a.org_id == org => Ok(Some(a)),
        // Nothing was sent: no credentials of this org for that account.
        _ => Err(TwilioError::Api {
            status: 401,
            code: Some(20003),
            message: "no credentials of this org are registered for the number's Twilio account"
                .into(),
            more_info: None,
        }),
    }
}

/// What a provider call from an org's number acts with, owned: the
/// number's Twilio account (`None`: the environment's), or the Meta token.
pub(crate) enum Credentials {
    Twilio(Option<Arc<TwilioAccount>>),
    Meta(Secret),
}

impl Credentials {
    pub(crate) fn auth(&self) -> ProviderAuth<'_> {
        match self {
            Self::Twilio(account) => ProviderAuth::Twilio(account.as_deref()),
            Self::Meta(token) => ProviderAuth::Meta(token.expose()),
        }
    }
}

/// The org's credentials for its `provider` number `business`. An error
/// when there are none of this org (nothing can be sent): Twilio's 401
/// (another org's account) or Meta's bad-token refusal (no token).
pub(crate) async fn credentials_of(
    app: &Core<impl AccountStore>,
    org: &str,
    provider: Provider,
    business: &str,
) -> Result<Credentials, TwilioError> {
    match provider {
        Provider::Meta => meta_token_of(app, org, business)
            .await?
            .map(Credentials::Meta)
            .ok_or_else(|| TwilioError::Meta {
                status: 401,
                code: crate::transport::META_BAD_TOKEN,
                subcode: None,
                message: "no access token registered for this phone number id".into(),
            }),
        _ => Ok(Credentials::Twilio(
            twilio_account_of(app, org, business).await?,
        )),
    }
}

/// Send a reply through the conversation's provider, with the org's
/// credentials for the number it goes from.
pub async fn send(
    app: &App<impl AccountStore, impl ProviderTransport>,
    inbox: &InboxMeta,
    m: &OutboundMessage<'_>,
) -> Result<SmsResource, TwilioError> {
    let creds = credentials_of(app, &inbox.org_id, inbox.provider, m.from).await?;
    match inbox.provider {
        Provider::Meta => app.meta.send_reply(creds.auth(), m).await,
        _ => app.twilio.send_reply(creds.auth(), m).await,
    }
}

/// The org's access token for a Meta number: from the credential store,
/// else (an install without one, or a number registered before it) from
/// the chat account item. Only a token registered by this org.
pub(crate) async fn meta_token_of(
    app: &Core<impl AccountStore>,
    org: &str,
    phone_number_id: &str,
) -> Result<Option<Secret>, TwilioError> {
    let stored = app
        .vault
        .meta_token(phone_number_id)
        .await
        .map_err(|e| TwilioError::Unavailable(format!("access token: {e}")))?;
    if let Some(t) = stored {
        return Ok((t.org_id == org).then(|| t.access_token.clone()));
    }
    let account = app
        .store
        .chat_account(Provider::Meta, phone_number_id)
        .await
        .map_err(|e| TwilioError::Unavailable(format!("chat account: {e}")))?;
    Ok(account
        .filter(|a| a.org_id == org)
        .and_then(|a| a.access_token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_meta_template_is_given_it_should_be_normalised_or_refused() {
        let t = meta_template(&json!({"name": "order_update", "language": "en_US"})).unwrap();
        assert_eq!(
            t,
            json!({"name": "order_update", "language": {"code": "en_US"}})
        );
        let with = json!({"name": "x", "language": {"code": "pt_BR"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]});
        assert_eq!(meta_template(&with).unwrap(), with);
        for bad in [
            json!("order_update"),
            json!({"language": "en"}),
            json!({"name": "Has Space", "language": "en"}),
            json!({"name": "x"}),
            json!({"name": "x", "language": "e"}),
            json!({"name": "x", "language": "en", "components": {"type": "body"}}),
            json!({"name": "x", "language": "en", "components": [1]}),
        ] {
            let e = meta_template(&bad).unwrap_err();
            assert_eq!(
                (e.status().as_u16(), e.code()),
                (422, "invalid_template"),
                "{bad}"
            );
        }
    }

    #[test]
    fn when_media_is_linked_its_kind_should_follow_the_extension() {
        use crate::meta::client::media_kind;
        assert_eq!(media_kind("https://x.example/a.JPG?sig=1"), "image");
        assert_eq!(media_kind("https://x.example/v.mp4"), "video");
        assert_eq!(media_kind("https://x.example/n.ogg"), "audio");
        assert_eq!(media_kind("https://x.example/invoice.pdf"), "document");
        assert_eq!(media_kind("https://x.example/download"), "document");
    }
}
