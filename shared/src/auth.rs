//! Bearer JWT verification (Supabase-compatible HS256), done in every function.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::Request;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserType {
    Customer,
    Provider,
    Agent,
    Service,
}

impl UserType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Provider => "provider",
            Self::Agent => "agent",
            Self::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "customer" => Some(Self::Customer),
            "provider" => Some(Self::Provider),
            "agent" => Some(Self::Agent),
            "service" => Some(Self::Service),
            _ => None,
        }
    }
}

/// Who is calling, as proven by the token. Never taken from a request body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub user_type: UserType,
    pub org_id: Option<String>,
    pub role: Option<String>,
}

impl Caller {
    pub fn is_service(&self) -> bool {
        self.user_type == UserType::Service
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct AppMetadata {
    user_type: UserType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    org_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    app_metadata: AppMetadata,
}

/// The local stack's default `AUTH_JWT_SECRET`; the tokens in `events/` are
/// signed with it. Never for a deployment.
pub const LOCAL_DEV_SECRET: &str = "local-dev-secret-change-me-0123456789";

pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl JwtVerifier {
    pub fn new(secret: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        // Supabase sets `aud: authenticated`; the audience is not a trust
        // boundary here (the secret is), so it is not checked.
        validation.validate_aud = false;
        validation.leeway = 30;
        Self {
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// The caller of an API request: 401 for a missing, malformed, forged or
    /// expired token. A Twilio signature is never accepted in its place.
    pub fn caller(&self, req: &Request) -> Result<Caller, ApiError> {
        let header = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .ok_or(ApiError::Unauthorized("missing Authorization header"))?
            .to_str()
            .map_err(|_| ApiError::Unauthorized("malformed Authorization header"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(ApiError::Unauthorized("expected a Bearer token"))?;
        self.verify(token.trim())
    }

    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        use jsonwebtoken::errors::ErrorKind;
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => ApiError::Unauthorized("token expired"),
                ErrorKind::InvalidSignature => ApiError::Unauthorized("invalid token signature"),
                _ => ApiError::Unauthorized("invalid token"),
            },
        )?;
        let claims = data.claims;
        if claims.sub.is_empty() || claims.sub.len() > 128 {
            return Err(ApiError::Unauthorized("invalid token subject"));
        }
        Ok(Caller {
            user_id: claims.sub,
            user_type: claims.app_metadata.user_type,
            org_id: claims.app_metadata.org_id,
            role: claims.app_metadata.role,
        })
    }
}

/// Sign a token the way Supabase would (dev tools, events and tests).
pub fn issue_token(secret: &str, caller: &Caller, ttl_secs: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: caller.user_id.clone(),
        exp: now + ttl_secs,
        iat: Some(now),
        app_metadata: AppMetadata {
            user_type: caller.user_type,
            org_id: caller.org_id.clone(),
            role: caller.role.clone(),
        },
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "test-secret-0123456789abcdef";

    fn customer() -> Caller {
        Caller {
            user_id: "cust-1".into(),
            user_type: UserType::Customer,
            org_id: None,
            role: None,
        }
    }

    #[test]
    fn when_token_is_valid_it_should_yield_the_caller() {
        let token = issue_token(SECRET, &customer(), 60);
        assert_eq!(JwtVerifier::new(SECRET).verify(&token).unwrap(), customer());
    }

    #[test]
    fn when_token_is_expired_it_should_be_unauthorized() {
        let token = issue_token(SECRET, &customer(), -120);
        let err = JwtVerifier::new(SECRET).verify(&token).unwrap_err();
        assert!(
            matches!(err, ApiError::Unauthorized("token expired")),
            "{err}"
        );
    }

    #[test]
    fn when_token_is_signed_with_another_secret_it_should_be_unauthorized() {
        let token = issue_token("another-secret-0123456789", &customer(), 60);
        let err = JwtVerifier::new(SECRET).verify(&token).unwrap_err();
        assert_eq!(err.status(), 401);
    }

    #[test]
    fn when_token_uses_alg_none_it_should_be_unauthorized() {
        let token = issue_token(SECRET, &customer(), 60);
        let mut parts = token.split('.');
        let _ = parts.next();
        let payload = parts.next().unwrap();
        // {"alg":"none","typ":"JWT"}
        let forged = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert_eq!(
            JwtVerifier::new(SECRET)
                .verify(&forged)
                .unwrap_err()
                .status(),
            401
        );
    }

    #[test]
    fn when_user_type_is_unknown_it_should_be_unauthorized() {
        #[derive(Serialize)]
        struct Odd {
            sub: &'static str,
            exp: i64,
            app_metadata: serde_json::Value,
        }
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Odd {
                sub: "x",
                exp: chrono::Utc::now().timestamp() + 60,
                app_metadata: serde_json::json!({"user_type": "admin"}),
            },
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert_eq!(
            JwtVerifier::new(SECRET)
                .verify(&token)
                .unwrap_err()
                .status(),
            401
        );
    }
}
