//! `[multi_tenancy]` (the seeds also write `[multitenancy]`): which tenant a request is for,
//! and how tenants are kept apart. The tenant comes from a verified token's claim
//! (`tenant_claim`) and/or a header (`auth_header`); it becomes the session setting
//! `app.tenant_id` ([`TENANT_SETTING`]) that row-level security policies read; with
//! `strategy = "database_per_tenant"` it also picks the database of every configured
//! database whose `url` holds `{tenant}`.

use serde::{Deserialize, Serialize};

/// `[multi_tenancy]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenancyConfig {
    /// False: the section is kept but requests carry no tenant.
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub strategy: TenancyStrategy,
    /// The header naming the tenant.
    #[serde(default = "default_header", alias = "tenant_header")]
    pub auth_header: String,
    /// The token claim naming the tenant.
    #[serde(default = "default_claim")]
    pub tenant_claim: String,
    /// Whether a tenant named by the header alone (no token claim to check it against) is
    /// believed: for a server behind a gateway that authenticates. Default: true without
    /// `[auth]`, false with it (then the token must carry the claim, and a header that
    /// disagrees with it is refused).
    #[serde(default)]
    pub trust_header: Option<bool>,
    /// Tenant databases (`database_per_tenant`) open at once; the least recently used one
    /// is closed to open another.
    #[serde(default = "default_max_pools")]
    pub max_tenant_pools: usize,
    /// A tenant database unused this long is closed.
    #[serde(default = "default_idle")]
    pub tenant_pool_idle_secs: u64,
    /// Distinct tenants the per-tenant metrics name; the others are counted as `other`.
    #[serde(default = "default_labels")]
    pub max_tenant_labels: usize,
}

/// How tenants are kept apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenancyStrategy {
    /// One database; rows carry their tenant and row-level security keeps them apart.
    #[default]
    Row,
    /// A database per tenant.
    #[serde(alias = "database")]
    DatabasePerTenant,
}

impl TenancyStrategy {
    pub fn name(self) -> &'static str {
        match self {
            Self::Row => "row",
            Self::DatabasePerTenant => "database_per_tenant",
        }
    }
}

impl Default for TenancyConfig {
    /// Every default: the section as written with no keys.
    fn default() -> Self {
        Self {
            enabled: true,
            strategy: TenancyStrategy::Row,
            auth_header: default_header(),
            tenant_claim: default_claim(),
            trust_header: None,
            max_tenant_pools: default_max_pools(),
            tenant_pool_idle_secs: default_idle(),
            max_tenant_labels: default_labels(),
        }
    }
}

impl TenancyConfig {
    /// Whether the header alone names the tenant (see `trust_header`).
    pub fn trusts_header(&self, auth: bool) -> bool {
        self.trust_header.unwrap_or(!auth)
    }
}

/// The placeholder a tenant database's `url` holds.
pub const TENANT_PLACEHOLDER: &str = "{tenant}";

/// Longest tenant id.
pub const MAX_TENANT_LEN: usize = 63;

/// Whether `id` can name a tenant: 1 to 63 of ASCII letters, digits, `_` and `-`, starting
/// with a letter or digit. Nothing else reaches a setting, a metric label or a database
/// name.
pub fn valid_tenant(id: &str) -> bool {
    id.len() <= MAX_TENANT_LEN
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn yes() -> bool {
    true
}
fn default_header() -> String {
    "X-Tenant-ID".into()
}
fn default_claim() -> String {
    "tenant_id".into()
}
/// The session setting the tenant is handed to SQL as: row-level security policies read it,
/// and the event capture records it with each change.
pub const TENANT_SETTING: &str = "app.tenant_id";
fn default_max_pools() -> usize {
    100
}
fn default_idle() -> u64 {
    300
}
fn default_labels() -> usize {
    100
}

#[cfg(test)]
mod tests {
    use super::valid_tenant;

    #[test]
    fn tenant_ids_are_plain_names() {
        for ok in [
            "acme",
            "tenant-a",
            "acme_corp",
            "7f3c0b1e-9d2a-4c1b-8e5f-0a1b2c3d4e5f",
        ] {
            assert!(valid_tenant(ok), "{ok}");
        }
        let long = "a".repeat(64);
        for bad in [
            "", "-a", "_a", "a b", "a'b", "a;drop", "../etc", "a/b", "ä", "a\u{0}", &long,
        ] {
            assert!(!valid_tenant(bad), "{bad:?}");
        }
    }
}
