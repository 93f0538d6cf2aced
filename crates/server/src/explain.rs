//! `fraiseql explain` support: the database's own plan for a rendered statement
//! (PostgreSQL `EXPLAIN`, MySQL/MariaDB `EXPLAIN FORMAT=JSON`, SQLite `EXPLAIN QUERY PLAN`),
//! and the catalog the renderer uses, read through the same pools and drivers as the server.

use crate::db::{Database, DbError, DbErrorKind};
use fraiseql_engine::catalog::Catalog;
use fraiseql_engine::config::Config;
use fraiseql_engine::sql::SqlQuery;

/// A failure of a one-off database task run for the CLI.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DatabaseError {
    /// The database could not be reached (as opposed to rejecting the statement).
    pub unreachable: bool,
    pub message: String,
}

impl DatabaseError {
    fn from_db(name: &str, e: DbError) -> Self {
        Self {
            unreachable: matches!(e.kind, DbErrorKind::Unavailable | DbErrorKind::Timeout),
            message: format!("database '{name}': {e}"),
        }
    }
}

fn open(config: &Config, database: &str) -> Result<Database, DatabaseError> {
    let cfg = config
        .databases
        .get(database)
        .ok_or_else(|| DatabaseError {
            unreachable: false,
            message: format!("database '{database}' is not configured"),
        })?;
    if crate::db::tenants::per_tenant(cfg) {
        return Err(DatabaseError {
            unreachable: false,
            message: format!(
                "database '{database}' is one per tenant ({{tenant}} in its url): explain a \
                 tenant's own database with a config that names it"
            ),
        });
    }
    Database::new(database, cfg).map_err(|e| DatabaseError::from_db(database, e))
}

/// Reads the catalog of `database` (views' columns, functions).
pub async fn introspect(config: &Config, database: &str) -> Result<Catalog, DatabaseError> {
    let db = open(config, database)?;
    let catalog = db
        .load_catalog()
        .await
        .map_err(|e| DatabaseError::from_db(database, e))?;
    Ok(Catalog::clone(&catalog))
}

/// The plan `database` chooses for `query`, as text. With `analyze` on PostgreSQL and
/// MariaDB the statement really runs (inside a transaction that is rolled back); SQLite has
/// no equivalent and shows the plan only. `settings` (`explain --as`) are set first on the
/// connection, as a request's claims are.
pub async fn explain_sql(
    config: &Config,
    database: &str,
    query: &SqlQuery,
    analyze: bool,
    settings: &[(String, String)],
) -> Result<String, DatabaseError> {
    let db = open(config, database)?;
    db.explain(query, analyze, &settings.iter().cloned().collect())
        .await
        .map_err(|e| DatabaseError::from_db(database, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fraiseql_engine::config::DatabaseConfig;
    use fraiseql_engine::sql::Param;

    #[tokio::test]
    async fn sqlite_plans_are_nested() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.db");
        rusqlite::Connection::open(&path)
            .and_then(|c| c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);"))
            .expect("setup");
        let mut config = Config::default();
        config.databases.insert(
            "primary".into(),
            DatabaseConfig {
                kind: Some(fraiseql_engine::config::DatabaseKind::Sqlite),
                url: Some(format!("sqlite://{}", path.display())),
                ..Default::default()
            },
        );
        let q = SqlQuery {
            text: "SELECT (SELECT v FROM t WHERE id = ?1), (SELECT count(*) FROM t WHERE v = ?2)"
                .into(),
            params: vec![Param::Int(1), Param::Text("x".into())],
        };
        let plan = explain_sql(&config, "primary", &q, false, &[])
            .await
            .expect("plan");
        assert!(plan.contains("SCALAR SUBQUERY"), "{plan}");
        assert!(
            plan.contains("\n  SEARCH t USING INTEGER PRIMARY KEY"),
            "{plan}"
        );
        let err = explain_sql(&config, "other", &q, false, &[])
            .await
            .expect_err("unknown database");
        assert!(!err.unreachable);
        let catalog = introspect(&config, "primary").await.expect("catalog");
        assert!(catalog.relations.contains_key("t"));
    }

    fn sql(text: &str, params: Vec<Param>) -> SqlQuery {
        SqlQuery {
            text: text.into(),
            params,
        }
    }

    /// With `analyze` the write in `insert` really runs, and is rolled back: `count` still
    /// says 0.
    async fn analyze_rolls_back(db: DatabaseConfig, insert: SqlQuery, count: &str, shows: &str) {
        let mut config = Config::default();
        config.databases.insert("primary".into(), db.clone());
        let analyzed = explain_sql(&config, "primary", &insert, true, &[])
            .await
            .expect("analyze");
        assert!(analyzed.contains(shows), "{analyzed}");
        let rows = Database::new("primary", &db)
            .expect("pool builds")
            .fetch_texts(&sql(count, vec![]))
            .await
            .expect("count");
        assert_eq!(rows, [Some("0".to_string())], "the write was rolled back");
    }

    #[tokio::test]
    async fn postgres_analyze_rolls_back() {
        let scratch =
            crate::db::PgScratch::new("CREATE TABLE t (id int PRIMARY KEY, v text);").await;
        let insert = sql(
            "INSERT INTO t VALUES ($1::int8, $2::text)",
            vec![Param::Int(1), Param::Text("x".into())],
        );
        let count = "SELECT count(*)::text FROM t";
        analyze_rolls_back(scratch.config(), insert, count, "actual time").await;
    }

    /// MariaDB: `EXPLAIN FORMAT=JSON` with the parameters bound, `ANALYZE FORMAT=JSON` with
    /// analyze; an unreachable server is told apart from a refused statement.
    #[tokio::test]
    async fn mysql_plans_bind_parameters() {
        let scratch =
            crate::db::MysqlScratch::new("CREATE TABLE t (id INT PRIMARY KEY, v TEXT);").await;
        let mut config = Config::default();
        config.databases.insert("primary".into(), scratch.config());
        let q = sql(
            "SELECT (SELECT v FROM t WHERE id = ?), (SELECT COUNT(*) FROM t WHERE v = ?)",
            vec![Param::Int(1), Param::Text("x".into())],
        );
        let plan = explain_sql(&config, "primary", &q, false, &[])
            .await
            .expect("plan");
        let json: serde_json::Value = serde_json::from_str(&plan).expect("a JSON plan");
        assert!(json["query_block"]["subqueries"].is_array(), "{plan}");
        assert!(
            plan.contains("\"attached_condition\": \"t.v = 'x'\""),
            "{plan}"
        );
        let analyzed = explain_sql(&config, "primary", &q, true, &[])
            .await
            .expect("analyze");
        assert!(analyzed.contains("r_total_time_ms"), "{analyzed}");

        config.databases.insert(
            "down".into(),
            DatabaseConfig {
                kind: Some(fraiseql_engine::config::DatabaseKind::Mysql),
                url: Some("mysql://root@127.0.0.1:1/app".into()),
                connect_timeout_ms: 1000,
                ..Default::default()
            },
        );
        let err = explain_sql(&config, "down", &q, false, &[])
            .await
            .expect_err("unreachable");
        assert!(err.unreachable, "{err}");
        let bad = explain_sql(
            &config,
            "primary",
            &sql("SELECT nope FROM t", vec![]),
            false,
            &[],
        )
        .await
        .expect_err("refused");
        assert!(!bad.unreachable, "{bad}");
    }

    #[tokio::test]
    async fn mysql_analyze_rolls_back() {
        let scratch =
            crate::db::MysqlScratch::new("CREATE TABLE t (id INT PRIMARY KEY, v TEXT);").await;
        let insert = sql(
            "INSERT INTO t VALUES (?, ?)",
            vec![Param::Int(1), Param::Text("x".into())],
        );
        let count = "SELECT COUNT(*) FROM t";
        analyze_rolls_back(scratch.config(), insert, count, "r_total_time_ms").await;
    }

    #[tokio::test]
    async fn postgres_plans_bind_parameters() {
        let mut config = Config::default();
        let url = crate::db::postgres_test_url();
        config.databases.insert(
            "primary".into(),
            DatabaseConfig {
                kind: Some(fraiseql_engine::config::DatabaseKind::Postgresql),
                url: Some(url),
                ..Default::default()
            },
        );
        let q = SqlQuery {
            text: "SELECT relname::text FROM pg_class WHERE relname = $1::text LIMIT $2::int8"
                .into(),
            params: vec![Param::Text("pg_class".into()), Param::Int(1)],
        };
        let plan = explain_sql(&config, "primary", &q, false, &[])
            .await
            .expect("plan");
        assert!(plan.contains("Limit"), "{plan}");
        let analyzed = explain_sql(&config, "primary", &q, true, &[])
            .await
            .expect("analyze");
        assert!(analyzed.contains("actual time"), "{analyzed}");

        config.databases.insert(
            "down".into(),
            DatabaseConfig {
                kind: Some(fraiseql_engine::config::DatabaseKind::Postgresql),
                url: Some("postgresql://postgres@127.0.0.1:1/postgres".into()),
                connect_timeout_ms: 1000,
                ..Default::default()
            },
        );
        let err = explain_sql(&config, "down", &q, false, &[])
            .await
            .expect_err("unreachable");
        assert!(err.unreachable, "{err}");
    }
}
