//! Who a contact is: a WhatsApp business-scoped user id (BSUID, `CC.xxxx`,
//! reported since 2026 and the only id of users with a username), a phone
//! number, or both. A contact is identified by its BSUID when present, with
//! the phone number as a second address.

use crate::domain::{Address, Channel, Provider};
use crate::envelope::Envelope;

/// A BSUID: an ISO country code, a dot, an optional `ENT.` (parent ids),
/// then up to 128 letters and digits, e.g. `US.13491208655302741918`.
pub fn is_bsuid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 4 || !b[0].is_ascii_uppercase() || !b[1].is_ascii_uppercase() || b[2] != b'.' {
        return false;
    }
    let rest = &s[3..];
    let rest = rest.strip_prefix("ENT.").unwrap_or(rest);
    !rest.is_empty() && rest.len() <= 128 && rest.bytes().all(|c| c.is_ascii_alphanumeric())
}

/// `+` and digits, from `+15551234567` or Meta's `15551234567`.
pub fn e164(s: &str) -> Option<String> {
    let digits = s.trim().strip_prefix('+').unwrap_or(s.trim());
    let candidate = format!("+{digits}");
    Address::parse(&candidate).ok().map(|_| candidate)
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactIds {
    pub provider: Provider,
    pub channel: Channel,
    /// The business-scoped user id (BSUID).
    pub user_id: Option<String>,
    /// The parent BSUID (managed businesses), kept for reference.
    pub parent_user_id: Option<String>,
    /// E.164 with `+`.
    pub phone: Option<String>,
    /// The WhatsApp username: display only (users change it).
    pub username: Option<String>,
}

impl ContactIds {
    /// Twilio: `From` is `whatsapp:+E164`, `+E164` (SMS) or, for a username
    /// user, `whatsapp:CC.xxx`; `ExternalUserId` / `ParentExternalUserId`
    /// carry the BSUIDs and `ProfileUsername` the username. `None`: a sender
    /// no reply can reach (a short code, an alphanumeric sender id).
    pub fn from_twilio(env: &Envelope, from: &str) -> Option<Self> {
        let from = from.trim();
        let param = |n: &str| env.param(n).map(str::trim).filter(|v| !v.is_empty());
        let (channel, rest) = match from.strip_prefix("whatsapp:") {
            Some(rest) => (Channel::Whatsapp, rest),
            None => (Channel::Sms, from),
        };
        let mut ids = Self {
            provider: Provider::Twilio,
            channel,
            username: param("ProfileUsername").map(str::to_string),
            parent_user_id: param("ParentExternalUserId")
                .filter(|u| is_bsuid(u))
                .map(str::to_string),
            ..Default::default()
        };
        if let Ok(a) = Address::parse(from) {
            ids.phone = Some(a.as_str().trim_start_matches("whatsapp:").to_string());
        } else if channel == Channel::Whatsapp && is_bsuid(rest) {
            ids.user_id = Some(rest.to_string());
        } else {
            return None;
        }
        if ids.user_id.is_none() {
            ids.user_id = param("ExternalUserId")
                .filter(|u| is_bsuid(u))
                .map(str::to_string);
        }
        if ids.phone.is_none() && channel == Channel::Whatsapp {
            ids.phone = param("WaId").and_then(e164);
        }
        Some(ids)
    }

    /// Contact addresses are written as Twilio writes them, whatever the
    /// provider: `whatsapp:+…` / `whatsapp:CC.…` on WhatsApp, `+…` on SMS.
    fn prefix(&self) -> &'static str {
        match self.channel {
            Channel::Whatsapp => "whatsapp:",
            Channel::Sms => "",
        }
    }

    /// The phone number as an address (`whatsapp:+…`, or `+…` for SMS).
    pub fn phone_address(&self) -> Option<String> {
        self.phone.as_ref().map(|p| format!("{}{p}", self.prefix()))
    }

    /// The BSUID as an address (`whatsapp:CC.…`).
    pub fn user_address(&self) -> Option<String> {
        self.user_id
            .as_ref()
            .map(|u| format!("{}{u}", self.prefix()))
    }

    /// Where replies go: the phone number when known (Meta recommends it,
    /// and it keeps phone numbers in later webhooks), else the BSUID.
    pub fn reply_address(&self) -> Option<String> {
        self.phone_address().or_else(|| self.user_address())
    }

    /// Every address this contact is known by, BSUID first.
    pub fn addresses(&self) -> Vec<String> {
        self.user_address()
            .into_iter()
            .chain(self.phone_address())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Source;

    fn env(pairs: &[(&str, &str)]) -> Envelope {
        Envelope::new(
            Source::Messaging,
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            None,
            None,
            "2026-12-01T00:00:00.000Z".into(),
        )
    }

    #[test]
    fn when_a_bsuid_is_checked_it_should_take_only_the_documented_form() {
        for ok in [
            "US.13491208655302741918",
            "BR.1502576394655843",
            "US.ENT.11815799212886844830",
            "IN.abc123",
        ] {
            assert!(is_bsuid(ok), "{ok}");
        }
        for bad in [
            "",
            "US.",
            "us.123",
            "U.123",
            "US-123",
            "US.12 3",
            "+15551234567",
            "US.ENT.",
            &format!("US.{}", "1".repeat(129)),
        ] {
            assert!(!is_bsuid(bad), "{bad}");
        }
    }

    #[test]
    fn when_twilio_sends_a_username_user_it_should_know_the_bsuid_and_no_phone() {
        let e = env(&[("ExternalUserId", "US.123"), ("ProfileUsername", "@ana")]);
        let ids = ContactIds::from_twilio(&e, "whatsapp:US.123").unwrap();
        assert_eq!(ids.user_id.as_deref(), Some("US.123"));
        assert_eq!(ids.phone, None);
        assert_eq!(ids.username.as_deref(), Some("@ana"));
        assert_eq!(ids.reply_address().as_deref(), Some("whatsapp:US.123"));
        assert_eq!(ids.addresses(), vec!["whatsapp:US.123".to_string()]);
    }

    #[test]
    fn when_twilio_sends_a_phone_and_an_external_user_id_it_should_keep_both() {
        let e = env(&[
            ("ExternalUserId", "US.123"),
            ("ParentExternalUserId", "US.ENT.9"),
        ]);
        let ids = ContactIds::from_twilio(&e, "whatsapp:+15551234567").unwrap();
        assert_eq!(ids.phone.as_deref(), Some("+15551234567"));
        assert_eq!(ids.parent_user_id.as_deref(), Some("US.ENT.9"));
        assert_eq!(
            ids.reply_address().as_deref(),
            Some("whatsapp:+15551234567")
        );
        assert_eq!(
            ids.addresses(),
            vec![
                "whatsapp:US.123".to_string(),
                "whatsapp:+15551234567".to_string()
            ]
        );
        // A username user whose number Twilio still knows (WaId).
        let e = env(&[("WaId", "15551234567")]);
        let ids = ContactIds::from_twilio(&e, "whatsapp:US.123").unwrap();
        assert_eq!(ids.phone.as_deref(), Some("+15551234567"));
    }

    #[test]
    fn when_the_sender_is_a_short_code_or_alphanumeric_it_should_not_be_addressable() {
        let e = env(&[]);
        assert!(ContactIds::from_twilio(&e, "12345").is_none());
        assert!(ContactIds::from_twilio(&e, "ACME").is_none());
        assert!(
            ContactIds::from_twilio(&e, "US.123").is_none(),
            "a BSUID is WhatsApp only"
        );
        let sms = ContactIds::from_twilio(&e, "+447700900123").unwrap();
        assert_eq!(sms.channel, Channel::Sms);
        assert_eq!(sms.reply_address().as_deref(), Some("+447700900123"));
    }
}
