//! `[auth]`: verifies bearer JWTs and turns them into a [`RequestContext`]. HMAC tokens
//! (HS256/384/512) are checked with the configured secret only; RS/PS/ES/EdDSA tokens with
//! the keys of the JWKS (`auth/jwks.rs`) only, so a public key can never serve as an HMAC
//! secret. Then `exp` (required), `nbf`, `iss` and `aud`, with `leeway_secs` of skew.
//!
//! Every failure is one [`AuthError`]: the client is told the token is not valid, never
//! why (the reason goes to the log at debug level).

mod jwks;

use crate::context::RequestContext;
use fraiseql_engine::config::{AuthConfig, HMAC_ALGORITHMS, KEY_ALGORITHMS};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::str::FromStr;

pub(crate) use jwks::Jwks;

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthError {
    /// No token, and `[auth] required`.
    Missing,
    /// A token that does not verify (the reason is for the log only).
    Invalid(String),
}

impl AuthError {
    /// The client's message.
    pub(crate) fn message(&self) -> &'static str {
        match self {
            AuthError::Missing => "authentication required: send `Authorization: Bearer <token>`",
            AuthError::Invalid(_) => "the bearer token is not valid",
        }
    }

    /// The `WWW-Authenticate` header of the 401 (RFC 6750).
    pub(crate) fn challenge(&self) -> &'static str {
        match self {
            AuthError::Missing => "Bearer",
            AuthError::Invalid(_) => "Bearer error=\"invalid_token\"",
        }
    }
}

/// The verifier of one server's `[auth]`.
pub(crate) struct Authenticator {
    config: AuthConfig,
    secret: Option<DecodingKey>,
    jwks: Option<Jwks>,
    allowed: Vec<Algorithm>,
}

impl Authenticator {
    pub(crate) fn new(config: &AuthConfig) -> Self {
        let secret = config
            .secret
            .as_ref()
            // Empty is the only refusal, and the config check wants 32 bytes.
            .and_then(|s| DecodingKey::from_secret(s.as_bytes()).ok());
        let jwks = config.uses_keys().then(|| Jwks::new(config));
        let names: Vec<&str> = if config.algorithms.is_empty() {
            let mut all = Vec::new();
            if secret.is_some() {
                all.extend(HMAC_ALGORITHMS);
            }
            if jwks.is_some() {
                all.extend(KEY_ALGORITHMS);
            }
            all
        } else {
            config.algorithms.iter().map(String::as_str).collect()
        };
        let allowed = names
            .into_iter()
            .filter_map(|n| Algorithm::from_str(n).ok())
            .collect();
        Self {
            config: config.clone(),
            secret,
            jwks,
            allowed,
        }
    }

    /// Fetches the keys now, so the first request does not wait (failures are retried on
    /// use).
    pub(crate) async fn warm(&self) {
        if let Some(jwks) = &self.jwks {
            if let Err(e) = jwks.refresh().await {
                tracing::warn!(error = %e, "[auth] cannot fetch the signing keys yet; requests with tokens will retry");
            }
        }
    }

    /// The role `__schema`/`__type` need, if any.
    pub(crate) fn introspection_role(&self) -> Option<&str> {
        self.config.introspection_role.as_deref()
    }

    /// The context of a request that sent `token` (the `Authorization` header's value, or a
    /// WebSocket `connection_init` token), or none.
    pub(crate) async fn context(
        &self,
        request_id: String,
        token: Option<&str>,
    ) -> Result<RequestContext, AuthError> {
        let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
            if self.config.required {
                return Err(AuthError::Missing);
            }
            let mut ctx = self.context_of(request_id, Map::new());
            ctx.authenticated = false;
            return Ok(ctx);
        };
        let token = bearer(token)?;
        let claims = self.verify(token).await.inspect_err(|e| {
            if let AuthError::Invalid(why) = e {
                tracing::debug!(reason = %why, "[auth] token refused");
            }
        })?;
        Ok(self.context_of(request_id, claims))
    }

    /// Checks a token's signature, algorithm, times, issuer and audience.
    pub(crate) async fn verify(&self, token: &str) -> Result<Map<String, Value>, AuthError> {
        let invalid = |why: String| AuthError::Invalid(why);
        if token.len() > self.config.max_token_bytes {
            return Err(invalid(format!(
                "longer than {} bytes",
                self.config.max_token_bytes
            )));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(e.to_string()))?;
        if !self.allowed.contains(&header.alg) {
            return Err(invalid(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let hmac = matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        );
        let key = if hmac {
            self.secret
                .clone()
                .ok_or_else(|| invalid("no secret for an HMAC token".into()))?
        } else {
            let jwks = self
                .jwks
                .as_ref()
                .ok_or_else(|| invalid("no keys for this algorithm".into()))?;
            jwks.key(header.kid.as_deref(), header.alg)
                .await
                .map_err(invalid)?
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.config.leeway_secs;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        if let Some(issuer) = &self.config.issuer {
            validation.set_issuer(&[issuer.trim_end_matches('/'), issuer.as_str()]);
        }
        match &self.config.audience {
            Some(audience) => validation.set_audience(&audience.values()),
            None => validation.validate_aud = false,
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(data.claims)
    }

    fn context_of(&self, request_id: String, claims: Map<String, Value>) -> RequestContext {
        let who = identity(&self.config, &claims);
        RequestContext {
            request_id,
            authenticated: true,
            expires_at: claims.get("exp").and_then(Value::as_u64),
            roles: who.roles,
            scopes: who.scopes,
            settings: who.settings.into(),
        }
    }
}

/// What a set of verified claims means under an `[auth]`: the caller's roles and scopes,
/// and the SQL settings, every configured one (an absent claim is '', as PostgreSQL shows a
/// custom setting a connection once had, so no request sees what an earlier one set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
    pub settings: Vec<(String, String)>,
}

/// The [`Identity`] of `claims` (also `fraiseql explain --as`).
pub fn identity(config: &AuthConfig, claims: &Map<String, Value>) -> Identity {
    let settings = config
        .claim_settings()
        .into_iter()
        .map(|(name, claim)| {
            let value = match claims.get(&claim) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            (AuthConfig::setting_name(&name), value)
        })
        .collect();
    Identity {
        roles: list(claims.get(&config.roles_claim)),
        scopes: list(
            claims
                .get(&config.scopes_claim)
                .or_else(|| claims.get("scp")),
        ),
        settings,
    }
}

/// A claim holding names: a list of strings, or one space-separated string.
fn list(claim: Option<&Value>) -> Vec<String> {
    match claim {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// The token of an `Authorization` value: `Bearer <token>` (any case), or a bare token
/// (WebSocket payloads often carry it without the scheme). Another scheme is refused.
fn bearer(value: &str) -> Result<&str, AuthError> {
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(token.trim()),
        Some((scheme, _)) => Err(AuthError::Invalid(format!(
            "`{}` is not the Bearer scheme",
            crate::log::clip(scheme)
        ))),
        None => Ok(value),
    }
}
