//! The [`RequestContext`]: who a request (or a WebSocket connection) is, made once at the
//! edge (`auth.rs`) and passed down to execution, where its settings become the session
//! prelude of every statement's transaction (bound parameters only; `db/mod.rs`).

use std::sync::Arc;

/// One request's identity.
#[derive(Debug, Clone)]
pub(crate) struct RequestContext {
    pub(crate) request_id: String,
    /// A verified token was sent.
    pub(crate) authenticated: bool,
    /// The token's roles (`[auth] roles_claim`) and scopes (`scopes_claim`).
    pub(crate) roles: Arc<[String]>,
    pub(crate) scopes: Arc<[String]>,
    /// When the token stops being valid (its `exp`, seconds since the epoch): a WebSocket
    /// connection authenticated by it is closed then.
    pub(crate) expires_at: Option<u64>,
    /// Session settings for SQL (`app.user_id` -> the `sub` claim), in order.
    pub(crate) settings: crate::db::Settings,
    /// The tenant (`[multi_tenancy]`), once `tenancy.rs` resolved it.
    pub(crate) tenant: Option<String>,
    /// The verified token's claims, for `inject` (`None` without a token).
    pub(crate) claims: Option<Arc<serde_json::Map<String, serde_json::Value>>>,
    /// A federation gateway asked for an inline trace (`ftv1.rs`).
    pub(crate) trace: bool,
}

impl RequestContext {
    /// The caller as the engine's authorization sees it.
    pub(crate) fn caller(&self) -> fraiseql_engine::authorize::Caller<'_> {
        fraiseql_engine::authorize::Caller {
            authenticated: self.authenticated,
            roles: &self.roles,
            scopes: &self.scopes,
            claims: self.claims.as_deref(),
        }
    }

    /// A request without a token.
    pub(crate) fn anonymous(request_id: String) -> Self {
        Self {
            request_id,
            authenticated: false,
            expires_at: None,
            roles: Arc::from(Vec::new()),
            scopes: Arc::from(Vec::new()),
            settings: crate::db::settings::none(),
            tenant: None,
            claims: None,
            trace: false,
        }
    }
}
