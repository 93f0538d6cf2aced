//! `[auth]`: who is calling. Bearer JWTs verified with an HS256 secret or the keys of a
//! JWKS URL (or found through OIDC discovery from the issuer), their issuer, audience and
//! times checked, and chosen claims handed to SQL as transaction settings (`app.user_id`).
//! The seeds' environment variables (`JWT_SECRET`, `JWT_ISSUER`, `JWT_AUDIENCE`,
//! `JWT_ROLES_CLAIM`, `OIDC_ISSUER_URL`, `OIDC_CLIENT_ID`, `OIDC_DISCOVERY_URL`) configure it
//! when the file has no `[auth]`, and fill what an `[auth]` leaves out.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// `[auth]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Every request needs a valid token (401 without one). False: anonymous requests are
    /// served, and a token that is present must still be valid.
    #[serde(default = "yes")]
    pub required: bool,
    /// The HMAC secret of HS256/HS384/HS512 tokens (from the environment: `${JWT_SECRET}`).
    #[serde(default, alias = "jwt_secret")]
    pub secret: Option<String>,
    /// Where the public keys of RS/PS/ES/EdDSA tokens are published.
    #[serde(default, alias = "jwks_uri")]
    pub jwks_url: Option<String>,
    /// The `iss` every token must carry; with neither `secret` nor `jwks_url`, the keys are
    /// found through OIDC discovery at `<issuer>/.well-known/openid-configuration`.
    #[serde(default, alias = "issuer_url")]
    pub issuer: Option<String>,
    /// The OIDC discovery document, when it is not under the issuer.
    #[serde(default)]
    pub discovery_url: Option<String>,
    /// The `aud` a token must name (one of them, for a list). Unset: not checked.
    #[serde(default, alias = "jwt_audience", alias = "client_id")]
    pub audience: Option<Audience>,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    /// Accepted `alg` values. Default: HS256/384/512 with a secret; RS256/384/512,
    /// PS256/384/512, ES256/384 and EdDSA with keys.
    #[serde(default)]
    pub algorithms: Vec<String>,
    /// The claim holding the caller's roles (a list, or a space-separated string).
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// The claim holding the caller's scopes (OAuth `scope`, space-separated, or a list;
    /// `scp` is read when it is absent).
    #[serde(default = "default_scopes_claim")]
    pub scopes_claim: String,
    /// Only callers with this role may introspect the schema (`__schema`, `__type`).
    #[serde(default)]
    pub introspection_role: Option<String>,
    /// Claims handed to SQL, by setting name: `user_id = "sub"` sets `app.user_id` to the
    /// token's `sub` in each statement's transaction (a name with a dot is used as it is).
    /// Default: `{ user_id = "sub", roles = <roles_claim> }`.
    #[serde(default)]
    pub claims: Option<IndexMap<String, String>>,
    /// How long fetched keys are trusted before they are fetched again.
    #[serde(default = "default_jwks_cache")]
    pub jwks_cache_secs: u64,
    /// A token with an unknown `kid` fetches the keys again at most this often.
    #[serde(default = "default_jwks_refresh")]
    pub jwks_min_refresh_secs: u64,
    /// Longest token accepted, in bytes.
    #[serde(default = "default_max_token")]
    pub max_token_bytes: usize,
}

/// One audience or several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn values(&self) -> Vec<String> {
        match self {
            Audience::One(a) => vec![a.clone()],
            Audience::Many(a) => a.clone(),
        }
    }
}

impl AuthConfig {
    /// An `[auth]` with every default and no key source (the environment fills it).
    pub fn empty() -> Self {
        Self {
            required: true,
            secret: None,
            jwks_url: None,
            issuer: None,
            discovery_url: None,
            audience: None,
            leeway_secs: default_leeway(),
            algorithms: Vec::new(),
            roles_claim: default_roles_claim(),
            scopes_claim: default_scopes_claim(),
            introspection_role: None,
            claims: None,
            jwks_cache_secs: default_jwks_cache(),
            jwks_min_refresh_secs: default_jwks_refresh(),
            max_token_bytes: default_max_token(),
        }
    }

    /// Whether keys come from a JWKS (a URL, or OIDC discovery from the issuer).
    pub fn uses_keys(&self) -> bool {
        self.jwks_url.is_some()
            || self.discovery_url.is_some()
            || (self.secret.is_none() && self.issuer.is_some())
    }

    /// The OIDC discovery document to read the JWKS URL from, when there is no `jwks_url`.
    pub fn discovery(&self) -> Option<String> {
        if self.jwks_url.is_some() {
            return None;
        }
        self.discovery_url.clone().or_else(|| {
            self.issuer
                .as_ref()
                .filter(|_| self.secret.is_none())
                .map(|i| {
                    format!(
                        "{}/.well-known/openid-configuration",
                        i.trim_end_matches('/')
                    )
                })
        })
    }

    /// Setting name -> claim, the default filled in.
    pub fn claim_settings(&self) -> IndexMap<String, String> {
        self.claims.clone().unwrap_or_else(|| {
            IndexMap::from([
                ("user_id".to_owned(), "sub".to_owned()),
                ("roles".to_owned(), self.roles_claim.clone()),
            ])
        })
    }

    /// The setting a claim is handed to SQL as: `user_id` is `app.user_id`.
    pub fn setting_name(name: &str) -> String {
        if name.contains('.') {
            name.to_owned()
        } else {
            format!("app.{name}")
        }
    }
}

/// Every `alg` the server can verify, by family.
pub const HMAC_ALGORITHMS: [&str; 3] = ["HS256", "HS384", "HS512"];
pub const KEY_ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

fn yes() -> bool {
    true
}
fn default_leeway() -> u64 {
    30
}
fn default_roles_claim() -> String {
    "roles".into()
}
fn default_scopes_claim() -> String {
    "scope".into()
}
fn default_jwks_cache() -> u64 {
    300
}
fn default_jwks_refresh() -> u64 {
    10
}
fn default_max_token() -> usize {
    8 * 1024
}
