//! `[multi_tenancy]` at the edge: which tenant a request (or a WebSocket connection) is for,
//! decided before any database work from the verified token's claim and the tenant header,
//! and handed down in its [`RequestContext`]: as the tenant setting (`app.tenant_id`) every
//! statement runs with, and as the tenant that picks a tenant database
//! (`database_per_tenant`, `db/tenants.rs`).
//!
//! The rules: a token's claim is the tenant, and a header that names another is refused
//! (403); a header alone is believed only when `trust_header` says so (default: without
//! `[auth]`, for a server behind a gateway); no tenant at all is refused (401); a tenant id
//! is 1 to 63 of `[A-Za-z0-9_-]`, anything else is refused (400) before it reaches a
//! setting, a label or a database name.

use crate::context::RequestContext;
use fraiseql_engine::config::{valid_tenant, TenancyConfig, MAX_TENANT_LEN, TENANT_SETTING};
use fraiseql_engine::error::ErrorCode;
use serde_json::Value;
use std::sync::Arc;

/// Why a request has no usable tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TenantError {
    /// Nothing names the tenant, or only an untrusted header does.
    Missing(String),
    /// The header and the token name different tenants.
    Mismatch(String),
    /// Not a tenant id.
    Invalid(String),
}

impl TenantError {
    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            TenantError::Missing(_) => ErrorCode::Unauthenticated,
            TenantError::Mismatch(_) => ErrorCode::Forbidden,
            TenantError::Invalid(_) => ErrorCode::BadRequest,
        }
    }

    pub(crate) fn message(&self) -> &str {
        match self {
            TenantError::Missing(m) | TenantError::Mismatch(m) | TenantError::Invalid(m) => m,
        }
    }
}

/// The tenant of a request whose header says `header` (the raw value, if any), with the
/// identity `ctx` already made by `[auth]` (its claims, when a token was verified).
pub(crate) fn resolve(
    config: &TenancyConfig,
    auth: bool,
    header: Option<&str>,
    ctx: &RequestContext,
) -> Result<String, TenantError> {
    let header = header.map(str::trim).filter(|h| !h.is_empty());
    let claim = ctx
        .claims
        .as_deref()
        .and_then(|c| c.get(&config.tenant_claim))
        .and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
    let checked = |id: &str, from: &str| {
        if valid_tenant(id) {
            Ok(id.to_owned())
        } else {
            Err(TenantError::Invalid(format!(
                "the tenant id in {from} is not valid: 1 to {MAX_TENANT_LEN} letters, digits, \
                 `_` or `-`"
            )))
        }
    };
    let header_name = &config.auth_header;
    match (claim, header) {
        (Some(claim), Some(header)) => {
            let claim = checked(
                &claim,
                &format!("the token's `{}` claim", config.tenant_claim),
            )?;
            let header = checked(header, header_name)?;
            if claim != header {
                return Err(TenantError::Mismatch(format!(
                    "{header_name} names another tenant than the token"
                )));
            }
            Ok(claim)
        }
        (Some(claim), None) => checked(
            &claim,
            &format!("the token's `{}` claim", config.tenant_claim),
        ),
        (None, Some(header)) if config.trusts_header(auth) => checked(header, header_name),
        (None, Some(_)) => Err(TenantError::Missing(format!(
            "missing tenant context: the token carries no `{}` claim to check {header_name} \
             against",
            config.tenant_claim
        ))),
        (None, None) => Err(TenantError::Missing(format!(
            "missing tenant context: send {header_name}{}",
            if auth {
                format!(" or a token with the `{}` claim", config.tenant_claim)
            } else {
                String::new()
            }
        ))),
    }
}

/// `ctx` for `tenant`: the tenant recorded, and its setting added to the settings its
/// statements run with.
pub(crate) fn enter(ctx: &mut RequestContext, tenant: String) {
    let mut settings: Vec<(String, String)> = ctx.settings.to_vec();
    settings.push((TENANT_SETTING.to_owned(), tenant.clone()));
    ctx.settings = Arc::from(settings);
    ctx.tenant = Some(tenant);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(claims: Option<Value>) -> RequestContext {
        let mut ctx = RequestContext::anonymous("r".into());
        if let Some(Value::Object(map)) = claims {
            ctx.authenticated = true;
            ctx.claims = Some(Arc::new(map));
        }
        ctx
    }

    #[test]
    fn the_token_names_the_tenant_and_a_header_must_agree() {
        let c = TenancyConfig::default();
        let token = ctx(Some(json!({"tenant_id": "acme"})));
        assert_eq!(resolve(&c, true, None, &token), Ok("acme".into()));
        assert_eq!(resolve(&c, true, Some("acme"), &token), Ok("acme".into()));
        assert!(matches!(
            resolve(&c, true, Some("globex"), &token),
            Err(TenantError::Mismatch(_))
        ));
        let numeric = ctx(Some(json!({"tenant_id": 42})));
        assert_eq!(resolve(&c, true, None, &numeric), Ok("42".into()));
        // With [auth], a header alone is not believed, unless trust_header says so.
        let plain = ctx(Some(json!({"sub": "alice"})));
        assert!(matches!(
            resolve(&c, true, Some("acme"), &plain),
            Err(TenantError::Missing(_))
        ));
        let trusting = TenancyConfig {
            trust_header: Some(true),
            ..TenancyConfig::default()
        };
        assert_eq!(
            resolve(&trusting, true, Some("acme"), &plain),
            Ok("acme".into())
        );
        // Without [auth], the header is the tenant (a gateway authenticated the caller).
        assert_eq!(
            resolve(&c, false, Some(" acme "), &ctx(None)),
            Ok("acme".into())
        );
        assert!(matches!(
            resolve(&c, false, None, &ctx(None)),
            Err(TenantError::Missing(_))
        ));
        assert!(matches!(
            resolve(&c, false, Some(""), &ctx(None)),
            Err(TenantError::Missing(_))
        ));
    }

    #[test]
    fn hostile_tenant_ids_are_refused_from_either_source() {
        let c = TenancyConfig::default();
        let long = "a".repeat(64);
        for bad in [
            "acme'; DROP TABLE t; --",
            "../../etc/passwd",
            "acme corp",
            "ä",
            "a\u{0}b",
            &long,
        ] {
            assert!(
                matches!(
                    resolve(&c, false, Some(bad), &ctx(None)),
                    Err(TenantError::Invalid(_))
                ),
                "{bad:?}"
            );
            let token = ctx(Some(json!({"tenant_id": bad})));
            assert!(
                matches!(
                    resolve(&c, true, None, &token),
                    Err(TenantError::Invalid(_))
                ),
                "{bad:?}"
            );
        }
        let object = ctx(Some(json!({"tenant_id": {"id": "acme"}})));
        assert!(matches!(
            resolve(&c, true, None, &object),
            Err(TenantError::Missing(_))
        ));
    }
}
