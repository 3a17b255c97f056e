//! Bearer JWT verification (Supabase-compatible HS256), done in every function.

use lambda_http::Request;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::jwt::{Hs256, JwtError, Rules};

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
    key: Hs256,
    rules: Rules,
}

impl JwtVerifier {
    /// Signature, `exp` and `nbf` only (no audience or issuer check).
    pub fn new(secret: &str) -> Self {
        Self::with_claims(secret, None, None)
    }

    /// Also check `aud` (e.g. Supabase's `authenticated`) and `iss` (e.g.
    /// `https://<project>.supabase.co/auth/v1`) when they are configured
    /// (`AUTH_JWT_AUDIENCE`, `AUTH_JWT_ISSUER`): a token without them, or
    /// with other values, is refused. `nbf` is always honoured.
    pub fn with_claims(secret: &str, audience: Option<&str>, issuer: Option<&str>) -> Self {
        Self {
            key: Hs256::new(secret.as_bytes()),
            rules: Rules {
                leeway: 30,
                audience: audience.map(str::to_owned),
                issuer: issuer.map(str::to_owned),
            },
        }
    }

    /// The verifier the configuration asks for.
    pub fn for_config(config: &crate::config::CoreConfig) -> Self {
        Self::with_claims(
            &config.jwt_secret,
            config.jwt_audience.as_deref(),
            config.jwt_issuer.as_deref(),
        )
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
        let now = chrono::Utc::now().timestamp();
        let claims: Claims = self
            .key
            .verify(token, &self.rules, &["exp", "sub"], now)
            .map_err(|e| match e {
                JwtError::Expired => ApiError::Unauthorized("token expired"),
                JwtError::NotYetValid => ApiError::Unauthorized("token not valid yet"),
                JwtError::Audience => ApiError::Unauthorized("token for another audience"),
                JwtError::Issuer => ApiError::Unauthorized("token from another issuer"),
                JwtError::Signature => ApiError::Unauthorized("invalid token signature"),
                JwtError::Malformed | JwtError::Algorithm => {
                    ApiError::Unauthorized("invalid token")
                }
            })?;
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
    Hs256::new(secret.as_bytes())
        .sign(&claims)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "test-secret-0123456789abcdef-0123456789";

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
        let token = Hs256::new(SECRET.as_bytes())
            .sign(&Odd {
                sub: "x",
                exp: chrono::Utc::now().timestamp() + 60,
                app_metadata: serde_json::json!({"user_type": "admin"}),
            })
            .unwrap();
        assert_eq!(
            JwtVerifier::new(SECRET)
                .verify(&token)
                .unwrap_err()
                .status(),
            401
        );
    }

    fn signed(claims: serde_json::Value) -> String {
        Hs256::new(SECRET.as_bytes()).sign(&claims).unwrap()
    }

    fn claims(extra: serde_json::Value) -> serde_json::Value {
        let now = chrono::Utc::now().timestamp();
        let mut c = serde_json::json!({
            "sub": "cust-1",
            "exp": now + 600,
            "app_metadata": {"user_type": "customer"},
        });
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    }

    #[test]
    fn when_nbf_is_in_the_future_it_should_be_unauthorized() {
        let now = chrono::Utc::now().timestamp();
        let v = JwtVerifier::new(SECRET);
        let early = signed(claims(serde_json::json!({"nbf": now + 300})));
        assert!(
            matches!(
                v.verify(&early).unwrap_err(),
                ApiError::Unauthorized("token not valid yet")
            ),
            "nbf five minutes ahead"
        );
        let ok = signed(claims(serde_json::json!({"nbf": now - 5})));
        assert_eq!(v.verify(&ok).unwrap().user_id, "cust-1");
    }

    #[test]
    fn when_an_audience_and_issuer_are_configured_they_should_be_required() {
        let iss = "https://proj.supabase.co/auth/v1";
        let v = JwtVerifier::with_claims(SECRET, Some("authenticated"), Some(iss));
        let good = signed(claims(
            serde_json::json!({"aud": "authenticated", "iss": iss}),
        ));
        assert_eq!(v.verify(&good).unwrap().user_id, "cust-1");
        for (why, token) in [
            ("no aud", signed(claims(serde_json::json!({"iss": iss})))),
            (
                "no iss",
                signed(claims(serde_json::json!({"aud": "authenticated"}))),
            ),
            (
                "other aud",
                signed(claims(serde_json::json!({"aud": "anon", "iss": iss}))),
            ),
            (
                "other iss",
                signed(claims(
                    serde_json::json!({"aud": "authenticated", "iss": "https://evil.example"}),
                )),
            ),
        ] {
            assert_eq!(v.verify(&token).unwrap_err().status(), 401, "{why}");
        }
        // Without configuration, aud and iss are not checked.
        let plain = JwtVerifier::new(SECRET);
        let other = signed(claims(serde_json::json!({"aud": "anon", "iss": "x"})));
        assert!(plain.verify(&other).is_ok());
    }
}
