//! The messaging providers an org's inbox can hold conversations of.

use serde::Serialize;

use super::DomainError;

/// `twilio` (wired as a transport), `meta` (next) and `kommo` (imported and
/// counted only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    #[default]
    Twilio,
    Meta,
    Kommo,
}

impl Provider {
    /// In the order `GET /stats/providers` lists them.
    pub const ALL: [Self; 3] = [Self::Twilio, Self::Meta, Self::Kommo];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Twilio => "twilio",
            Self::Meta => "meta",
            Self::Kommo => "kommo",
        }
    }

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                DomainError::invalid("invalid_provider", "provider must be twilio, meta or kommo")
            })
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_provider_is_parsed_it_should_round_trip_and_refuse_others() {
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.as_str()), Ok(p));
        }
        assert_eq!(
            Provider::parse("whatsapp").unwrap_err().code(),
            "invalid_provider"
        );
    }
}
