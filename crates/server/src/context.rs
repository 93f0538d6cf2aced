//! The [`RequestContext`]: who a request (or a WebSocket connection) is, made once at the
//! edge (`auth.rs`) and passed down to execution, where its settings become the session
//! prelude of every statement's transaction (bound parameters only; `db/mod.rs`).

use std::sync::Arc;

/// One request's identity.
#[derive(Debug, Clone)]
pub(crate) struct RequestContext {
    pub(crate) request_id: String,
    /// Transaction settings for SQL (`app.user_id` -> the `sub` claim), in order.
    pub(crate) settings: Arc<[(String, String)]>,
}

impl RequestContext {
    /// A request without a token.
    pub(crate) fn anonymous(request_id: String) -> Self {
        Self {
            request_id,
            settings: Arc::from(Vec::new()),
        }
    }
}
