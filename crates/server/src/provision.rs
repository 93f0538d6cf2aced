//! `fraiseql tenant create|list|drop`: the databases of `database_per_tenant`, made from
//! each `{tenant}` url of the config. Creating one makes the database (its owner too, when
//! the url's user names the tenant: `postgresql://tenant_{tenant}@db/tenant_{tenant}`) and
//! runs the schema files in it as that user; listing reads the server's databases (or the
//! directory of SQLite files) and keeps the names the template matches; dropping removes
//! both. The statements are each dialect's (`Dialect::create_database`); administration
//! connects with `admin_url` (default: the url with the maintenance database,
//! `postgres` or none, and the tenant-free user).

use crate::db::{settings, tenants::per_tenant, Database, DbError};
use fraiseql_engine::config::{
    valid_tenant, Config, DatabaseConfig, DatabaseKind, TENANT_PLACEHOLDER,
};
use fraiseql_engine::sql::{dialect, SqlQuery};

/// What went wrong: the command's message.
#[derive(Debug)]
pub struct ProvisionError(pub String);

impl std::fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProvisionError {}

fn fail(message: impl Into<String>) -> ProvisionError {
    ProvisionError(message.into())
}

fn db_fail(what: &str, e: DbError) -> ProvisionError {
    fail(format!("{what}: {e}"))
}

/// The per-tenant databases of `config` (`only`: that one).
fn templates<'c>(
    config: &'c Config,
    only: Option<&str>,
) -> Result<Vec<(&'c String, &'c DatabaseConfig)>, ProvisionError> {
    let found: Vec<_> = config
        .databases
        .iter()
        .filter(|(name, cfg)| per_tenant(cfg) && only.is_none_or(|o| o == name.as_str()))
        .collect();
    if found.is_empty() {
        return Err(fail(match only {
            Some(o) => {
                format!("database '{o}' is not one per tenant ({TENANT_PLACEHOLDER} in its url)")
            }
            None => format!(
                "no database of the config is one per tenant ({TENANT_PLACEHOLDER} in its url)"
            ),
        }));
    }
    Ok(found)
}

/// The parts of a database url: (scheme and authority up to the user, user, rest of the
/// authority, database, query).
struct UrlParts<'a> {
    scheme: &'a str,
    user: Option<&'a str>,
    host: &'a str,
    database: &'a str,
    query: &'a str,
}

fn split(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let (rest, query) = rest.split_once('?').map_or((rest, ""), |(r, q)| (r, q));
    let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
    let (user, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    Some(UrlParts {
        scheme,
        user,
        host,
        database,
        query,
    })
}

/// The name the template gives `tenant` (`tenant_{tenant}` -> `tenant_acme`).
fn named(template: &str, tenant: &str) -> String {
    template.replace(TENANT_PLACEHOLDER, tenant)
}

/// The tenant a name is for, if the template matches it.
fn tenant_of(template: &str, name: &str) -> Option<String> {
    let (before, after) = template.split_once(TENANT_PLACEHOLDER)?;
    let tenant = name.strip_prefix(before)?.strip_suffix(after)?;
    valid_tenant(tenant).then(|| tenant.to_owned())
}

/// A database at `url`, for one command.
fn open(name: &str, cfg: &DatabaseConfig, url: String) -> Result<Database, ProvisionError> {
    let mut cfg = cfg.clone();
    cfg.url = Some(url);
    Database::new(name, &cfg).map_err(|e| db_fail(name, e))
}

/// The administration url of a template: the maintenance database, and its user unless it
/// names the tenant (then `admin_url` is needed).
fn admin(name: &str, url: &str, admin_url: Option<&str>) -> Result<String, ProvisionError> {
    if let Some(a) = admin_url {
        return Ok(a.to_owned());
    }
    let p = split(url).ok_or_else(|| fail(format!("database '{name}': its url is not a URL")))?;
    if p.user.is_some_and(|u| u.contains(TENANT_PLACEHOLDER)) {
        return Err(fail(format!(
            "database '{name}': its url's user names the tenant; pass --admin-url with a user \
             that may create databases and roles"
        )));
    }
    let maintenance = if p.scheme.starts_with("postgres") {
        "postgres"
    } else {
        ""
    };
    let user = p.user.map(|u| format!("{u}@")).unwrap_or_default();
    let query = if p.query.is_empty() {
        String::new()
    } else {
        format!("?{}", p.query)
    };
    Ok(format!(
        "{}://{user}{}/{maintenance}{query}",
        p.scheme, p.host
    ))
}

/// `tenant`'s database name under `template`, and its owner when the template's user names
/// the tenant.
fn tenant_names(
    name: &str,
    template: &str,
    tenant: &str,
) -> Result<(String, Option<String>), ProvisionError> {
    let p =
        split(template).ok_or_else(|| fail(format!("database '{name}': its url is not a URL")))?;
    let owner = p
        .user
        .filter(|u| u.contains(TENANT_PLACEHOLDER))
        .map(|u| named(u.split(':').next().unwrap_or(u), tenant));
    Ok((named(p.database, tenant), owner))
}

/// Runs one statement without results.
async fn run(db: &Database, sql: String) -> Result<(), ProvisionError> {
    let q = SqlQuery {
        text: sql.clone(),
        params: Vec::new(),
    };
    db.fetch_all_from(&q, crate::db::Reads::Primary)
        .await
        .map(drop)
        .map_err(|e| db_fail(&sql, e))
}

/// Creates `tenant`'s databases and runs `sql` (each file's text, in order) in each.
/// Returns what was made, a line each.
pub async fn create_tenant(
    config: &Config,
    tenant: &str,
    only: Option<&str>,
    admin_url: Option<&str>,
    sql: &[String],
) -> Result<Vec<String>, ProvisionError> {
    check_id(tenant)?;
    let mut done = Vec::new();
    for (name, cfg) in templates(config, only)? {
        let template = cfg.url.clone().unwrap_or_default();
        let kind = cfg.kind.unwrap_or(DatabaseKind::Postgresql);
        let url = named(&template, tenant);
        if kind == DatabaseKind::Sqlite {
            if crate::db::sqlite_exists(&url) {
                return Err(fail(format!(
                    "tenant '{tenant}' already has database '{name}' ({url})"
                )));
            }
        } else {
            let admin_db = open(name, cfg, admin(name, &template, admin_url)?)?;
            let (database, owner) = tenant_names(name, &template, tenant)?;
            for statement in dialect(kind).create_database(&database, owner.as_deref()) {
                run(&admin_db, statement).await?;
            }
            admin_db.stop_upkeep();
        }
        // The schema, as the tenant's own user (SQLite: the file is created here).
        let db = open(name, cfg, url.clone())?;
        for text in sql {
            let mut tx = db
                .begin_as(&settings::none())
                .await
                .map_err(|e| db_fail(name, e))?;
            tx.script(text).await.map_err(|e| db_fail(name, e))?;
            tx.commit().await.map_err(|e| db_fail(name, e))?;
        }
        // Its events outbox and capture triggers, when `[observers]` gives it one.
        let outbox = crate::events::install_tenant_outbox(config, &db)
            .await
            .map_err(|e| fail(format!("database '{name}' of tenant '{tenant}': {e}")))?;
        db.stop_upkeep();
        done.push(format!(
            "created database '{name}' of tenant '{tenant}' ({}), {} schema file(s){}",
            crate::db::redact(&url),
            sql.len(),
            if outbox { ", events outbox" } else { "" }
        ));
    }
    Ok(done)
}

/// The tenants that have every per-tenant database (`only`: that one), sorted.
pub async fn list_tenants(
    config: &Config,
    only: Option<&str>,
    admin_url: Option<&str>,
) -> Result<Vec<String>, ProvisionError> {
    let mut all: Option<Vec<String>> = None;
    for (name, cfg) in templates(config, only)? {
        let template = cfg.url.clone().unwrap_or_default();
        let kind = cfg.kind.unwrap_or(DatabaseKind::Postgresql);
        let mut found: Vec<String> = if kind == DatabaseKind::Sqlite {
            let path = crate::db::sqlite_path(&template)
                .ok_or_else(|| fail(format!("database '{name}': not a file")))?;
            let dir = path
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default();
            let file = path
                .file_name()
                .and_then(|f| f.to_str())
                .unwrap_or_default()
                .to_owned();
            let entries = std::fs::read_dir(if dir.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                &dir
            })
            .map_err(|e| fail(format!("database '{name}': {}: {e}", dir.display())))?;
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter_map(|f| tenant_of(&file, &f))
                .collect()
        } else {
            let template_db = split(&template)
                .map(|p| p.database.to_owned())
                .unwrap_or_default();
            let admin_db = open(name, cfg, admin(name, &template, admin_url)?)?;
            let sql = dialect(kind)
                .database_names()
                .unwrap_or_default()
                .to_owned();
            let rows = admin_db
                .fetch_all_from(
                    &SqlQuery {
                        text: sql,
                        params: Vec::new(),
                    },
                    crate::db::Reads::Primary,
                )
                .await
                .map_err(|e| db_fail(name, e))?;
            admin_db.stop_upkeep();
            rows.into_iter()
                .filter_map(|r| r.into_iter().next().flatten())
                .filter_map(|d| tenant_of(&template_db, &d))
                .collect()
        };
        found.sort();
        all = Some(match all {
            None => found,
            Some(before) => before.into_iter().filter(|t| found.contains(t)).collect(),
        });
    }
    Ok(all.unwrap_or_default())
}

/// Drops `tenant`'s databases (and owners). Returns what was dropped, a line each.
pub async fn drop_tenant(
    config: &Config,
    tenant: &str,
    only: Option<&str>,
    admin_url: Option<&str>,
) -> Result<Vec<String>, ProvisionError> {
    check_id(tenant)?;
    let mut done = Vec::new();
    for (name, cfg) in templates(config, only)? {
        let template = cfg.url.clone().unwrap_or_default();
        let kind = cfg.kind.unwrap_or(DatabaseKind::Postgresql);
        let url = named(&template, tenant);
        if kind == DatabaseKind::Sqlite {
            let path = crate::db::sqlite_path(&url)
                .ok_or_else(|| fail(format!("database '{name}': not a file")))?;
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        } else {
            let admin_db = open(name, cfg, admin(name, &template, admin_url)?)?;
            let (database, owner) = tenant_names(name, &template, tenant)?;
            for statement in dialect(kind).drop_database(&database, owner.as_deref()) {
                run(&admin_db, statement).await?;
            }
            admin_db.stop_upkeep();
        }
        done.push(format!(
            "dropped database '{name}' of tenant '{tenant}' ({})",
            crate::db::redact(&url)
        ));
    }
    Ok(done)
}

fn check_id(tenant: &str) -> Result<(), ProvisionError> {
    if valid_tenant(tenant) {
        Ok(())
    } else {
        Err(fail(format!(
            "`{tenant}` is not a tenant id: 1 to 63 letters, digits, `_` or `-`, starting with a \
             letter or a digit"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_template_both_ways() {
        assert_eq!(named("tenant_{tenant}", "acme"), "tenant_acme");
        assert_eq!(
            tenant_of("tenant_{tenant}", "tenant_acme").as_deref(),
            Some("acme")
        );
        assert_eq!(
            tenant_of("t_{tenant}.db", "t_acme.db").as_deref(),
            Some("acme")
        );
        assert_eq!(tenant_of("tenant_{tenant}", "postgres"), None);
        assert_eq!(tenant_of("tenant_{tenant}", "tenant_"), None);
        assert_eq!(tenant_of("tenant_{tenant}", "tenant_a b"), None);
    }

    #[test]
    fn the_admin_url_is_the_maintenance_database() {
        assert_eq!(
            admin(
                "t",
                "postgresql://app:pw@db:5432/tenant_{tenant}?sslmode=disable",
                None
            )
            .unwrap(),
            "postgresql://app:pw@db:5432/postgres?sslmode=disable"
        );
        assert_eq!(
            admin("t", "mysql://root@db/tenant_{tenant}", None).unwrap(),
            "mysql://root@db/"
        );
        assert!(admin("t", "postgresql://tenant_{tenant}@db/tenant_{tenant}", None).is_err());
        assert_eq!(
            admin(
                "t",
                "postgresql://x",
                Some("postgresql://admin@db/postgres")
            )
            .unwrap(),
            "postgresql://admin@db/postgres"
        );
    }
}
