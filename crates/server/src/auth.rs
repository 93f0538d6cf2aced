//! `[auth]`: verifies bearer JWTs and turns them into a [`RequestContext`]. HMAC tokens
//! (HS256/384/512) are checked with the configured secret only; RS/PS/ES/EdDSA tokens with
//! the keys of the JWKS (`auth/jwks.rs`) only, so a public key can never serve as an HMAC
//! secret. Then `exp` (required), `nbf`, `iss` and `aud`, with `leeway_secs` of skew.
//!
//! Every failure is one [`AuthError`]: the client is told the token is not valid, never
//! why (the reason goes to the log at debug level).
//!
//! A client sends the same token with every request until it expires, so what a verified
//! token means (claims, roles, scopes, settings) is kept, keyed by the whole token, for
//! [`VERIFIED_TTL`] and never past its `exp` (plus leeway): a repeated token costs a lookup,
//! not a signature check and two JSON parses. The cache is bounded by bytes
//! ([`VERIFIED_BYTES`]). A token verified with JWKS keys is verified again once those keys
//! expire or are fetched again, so a withdrawn key stops its tokens as it would uncached.

mod jwks;

use crate::context::RequestContext;
use fraiseql_engine::config::{AuthConfig, HMAC_ALGORITHMS, KEY_ALGORITHMS};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::str::FromStr;
use std::sync::Arc;

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

/// How long a verified token's meaning is kept.
pub(crate) const VERIFIED_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// The most the verified tokens kept may weigh (their text and claims, roughly).
pub(crate) const VERIFIED_BYTES: u64 = 16 * 1024 * 1024;

/// What a verified token means, shared by every request that sends it.
#[derive(Debug)]
struct Verified {
    claims: Arc<Map<String, Value>>,
    roles: Arc<[String]>,
    scopes: Arc<[String]>,
    settings: crate::db::Settings,
    expires_at: Option<u64>,
    /// The generation of the JWKS keys that verified it (`None`: the secret).
    keys: Option<u64>,
}

/// The verifier of one server's `[auth]`.
pub(crate) struct Authenticator {
    config: AuthConfig,
    secret: Option<DecodingKey>,
    jwks: Option<Jwks>,
    allowed: Vec<Algorithm>,
    /// Verified tokens by their text.
    verified: moka::sync::Cache<Arc<str>, Arc<Verified>>,
    /// A request without a token (`required = false`): every setting ''.
    anonymous: Verified,
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
        let verified = moka::sync::Cache::builder()
            .weigher(|token: &Arc<str>, v: &Arc<Verified>| {
                let claims = serde_json::to_string(&*v.claims).map_or(0, |c| c.len());
                u32::try_from(token.len() + claims + 256).unwrap_or(u32::MAX)
            })
            .max_capacity(VERIFIED_BYTES)
            .time_to_live(VERIFIED_TTL)
            .build();
        let mut this = Self {
            config: config.clone(),
            secret,
            jwks,
            allowed,
            verified,
            anonymous: Verified {
                claims: Arc::default(),
                roles: Arc::from(Vec::new()),
                scopes: Arc::from(Vec::new()),
                settings: crate::db::settings::none(),
                expires_at: None,
                keys: None,
            },
        };
        this.anonymous = this.meaning(Map::new());
        this
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
            let mut ctx = context(request_id, &self.anonymous);
            ctx.authenticated = false;
            ctx.claims = None;
            return Ok(ctx);
        };
        let token = bearer(token)?;
        if let Some(v) = self.verified.get(token) {
            let now = jsonwebtoken::get_current_timestamp();
            let live = v
                .expires_at
                .is_none_or(|exp| now < exp.saturating_add(self.config.leeway_secs));
            // Keys that expired, or were fetched again, verify the token again.
            let keys = v.keys.is_none() || v.keys == self.jwks.as_ref().and_then(Jwks::current);
            if live && keys {
                return Ok(context(request_id, &v));
            }
            self.verified.invalidate(token);
        }
        let (claims, keys) = self.verify(token).await.inspect_err(|e| {
            if let AuthError::Invalid(why) = e {
                tracing::debug!(reason = %why, "[auth] token refused");
            }
        })?;
        let mut v = self.meaning(claims);
        v.keys = keys;
        let v = Arc::new(v);
        self.verified.insert(Arc::from(token), v.clone());
        Ok(context(request_id, &v))
    }

    /// Checks a token's signature, algorithm, times, issuer and audience; its claims, and
    /// the generation of the JWKS keys that verified it (`None`: the secret).
    async fn verify(&self, token: &str) -> Result<(Map<String, Value>, Option<u64>), AuthError> {
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
        let (key, keys) = if hmac {
            let secret = self.secret.clone();
            (
                secret.ok_or_else(|| invalid("no secret for an HMAC token".into()))?,
                None,
            )
        } else {
            let jwks = self
                .jwks
                .as_ref()
                .ok_or_else(|| invalid("no keys for this algorithm".into()))?;
            let (key, generation) = jwks
                .key(header.kid.as_deref(), header.alg)
                .await
                .map_err(invalid)?;
            (key, Some(generation))
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
        Ok((data.claims, keys))
    }

    /// What verified `claims` mean under this `[auth]`.
    fn meaning(&self, claims: Map<String, Value>) -> Verified {
        let who = identity(&self.config, &claims);
        Verified {
            expires_at: claims.get("exp").and_then(Value::as_u64),
            roles: who.roles.into(),
            scopes: who.scopes.into(),
            settings: who.settings.into(),
            claims: Arc::new(claims),
            keys: None,
        }
    }
}

/// The context of a request with a verified token.
fn context(request_id: String, v: &Verified) -> RequestContext {
    RequestContext {
        request_id,
        authenticated: true,
        expires_at: v.expires_at,
        roles: v.roles.clone(),
        scopes: v.scopes.clone(),
        settings: v.settings.clone(),
        tenant: None,
        claims: Some(v.claims.clone()),
        trace: false,
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
