//! `fraiseql init`: scaffolds a project that runs as is: config, SDL schema, SQL schema with
//! sample data and a README, for SQLite (the default; `app.db` is created from the SQL so
//! `fraiseql run` works at once), PostgreSQL or MySQL/MariaDB (the README says how to create
//! the database and load the SQL; nothing here connects to a server).

use crate::output::outln;
use crate::{Failure, Outcome};
use anyhow::{anyhow, Context};
use clap::Args;
use fraiseql_engine::config::DatabaseKind;
use std::path::{Path, PathBuf};

/// The GraphQL schema: the same for every database.
const SCHEMA: &str = include_str!("../templates/init/schema.graphql");

/// The files that differ by database. Each dialect's `schema.sql` has the same tables, views,
/// mutation and rows, and its views produce the same `data` JSON, so the README's query and
/// mutation answer the same on all three (`crates/cli/tests/cli.rs` checks it).
struct Template {
    config: &'static str,
    sql: &'static str,
    readme: &'static str,
    gitignore: &'static str,
}

fn template(kind: DatabaseKind) -> Template {
    match kind {
        DatabaseKind::Sqlite => Template {
            config: include_str!("../templates/init/sqlite/fraiseql.toml"),
            sql: include_str!("../templates/init/sqlite/schema.sql"),
            readme: include_str!("../templates/init/sqlite/README.md"),
            gitignore: include_str!("../templates/init/sqlite/gitignore"),
        },
        DatabaseKind::Postgresql => Template {
            config: include_str!("../templates/init/postgresql/fraiseql.toml"),
            sql: include_str!("../templates/init/postgresql/schema.sql"),
            readme: include_str!("../templates/init/postgresql/README.md"),
            gitignore: include_str!("../templates/init/postgresql/gitignore"),
        },
        DatabaseKind::Mysql => Template {
            config: include_str!("../templates/init/mysql/fraiseql.toml"),
            sql: include_str!("../templates/init/mysql/schema.sql"),
            readme: include_str!("../templates/init/mysql/README.md"),
            gitignore: include_str!("../templates/init/mysql/gitignore"),
        },
    }
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Directory to create (its name becomes the project name).
    #[arg(default_value = "my-fraiseql-app")]
    name: PathBuf,
    /// The database: `sqlite` (creates app.db), `postgresql` or `mysql` (MariaDB). Same
    /// spellings as `type` in fraiseql.toml (`postgres`, `pg`, `mariadb`, `sqlite3`).
    #[arg(long, default_value = "sqlite")]
    database: DatabaseKind,
}

pub(crate) fn init(args: InitArgs) -> Outcome {
    let dir = args.name;
    if dir.exists() {
        let empty = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_none();
        if !empty {
            return Err(Failure::schema(anyhow!(
                "{} already exists and is not empty; choose another name",
                dir.display()
            )));
        }
    }
    let name = project_name(&dir);
    let db = database_name(&name);
    let template = template(args.database);
    let fill = |text: &str| text.replace("{{name}}", &name).replace("{{db}}", &db);
    let files: [(&str, String); 5] = [
        ("fraiseql.toml", fill(template.config)),
        ("schema.graphql", SCHEMA.to_string()),
        ("db/schema.sql", fill(template.sql)),
        ("README.md", fill(template.readme)),
        (".gitignore", template.gitignore.to_string()),
    ];
    std::fs::create_dir_all(dir.join("db"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    for (file, text) in &files {
        let path = dir.join(file);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.database == DatabaseKind::Sqlite {
        create_database(&dir.join("app.db"), template.sql)?;
    }

    outln!("Created {} in {}:", name, dir.display())?;
    for (file, _) in &files {
        outln!("  {file}")?;
    }
    match args.database {
        DatabaseKind::Sqlite => {
            outln!("  app.db (from db/schema.sql, with sample data)")?;
            outln!("\nNext:\n  cd {}\n  fraiseql run", dir.display())?;
        }
        DatabaseKind::Postgresql | DatabaseKind::Mysql => {
            outln!(
                "\nNext:\n  cd {}\n  create the {} database {db} and load db/schema.sql (README.md)\n  fraiseql run",
                dir.display(),
                args.database.label()
            )?;
        }
    }
    Ok(())
}

/// The directory's own name, kept to characters that are safe in TOML and Markdown.
fn project_name(dir: &Path) -> String {
    let raw = dir
        .canonicalize()
        .ok()
        .as_deref()
        .and_then(Path::file_name)
        .or_else(|| dir.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let clean: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    if clean.is_empty() {
        "my-fraiseql-app".into()
    } else {
        clean
    }
}

/// The project name as a database name: lowercase letters, digits and `_`, starting with a
/// letter, so the README's `createdb`/`CREATE DATABASE` need no quoting.
fn database_name(project: &str) -> String {
    let name: String = project
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name
    } else {
        format!("app_{name}")
    }
}

fn create_database(path: &Path, sql: &str) -> Result<(), Failure> {
    let conn = rusqlite::Connection::open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    conn.execute_batch(sql)
        .with_context(|| format!("cannot set up {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitized() {
        assert_eq!(project_name(Path::new("/nonexistent/my app!")), "myapp");
        assert_eq!(project_name(Path::new("/nonexistent/shop-api")), "shop-api");
        assert_eq!(database_name("Shop-API.v2"), "shop_api_v2");
        assert_eq!(database_name("2024_blog"), "app_2024_blog");
    }

    #[test]
    fn scaffold_sql_creates_a_working_mutation() {
        let conn = rusqlite::Connection::open_in_memory().expect("memory db");
        conn.execute_batch(template(DatabaseKind::Sqlite).sql)
            .expect("schema.sql runs");
        let posts: i64 = conn
            .query_row("SELECT count(*) FROM v_post", [], |r| r.get(0))
            .expect("count");
        assert_eq!(posts, 3);

        conn.execute(
            "INSERT INTO fn_create_post (p_author_id, p_title, p_body) VALUES (?1, ?2, ?3)",
            ["a1000000-0000-4000-8000-000000000001", "Hello", "World"],
        )
        .expect("call");
        let (status, id): (String, String) = conn
            .query_row(
                "SELECT status, entity_id FROM fraiseql_mutation_response",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("one response row");
        assert_eq!(status, "success");
        assert_eq!(id.len(), 36, "{id}");
        let data: String = conn
            .query_row("SELECT data FROM v_post WHERE id = ?1", [&id], |r| r.get(0))
            .expect("the new post is in the view");
        let data: serde_json::Value = serde_json::from_str(&data).expect("json");
        assert_eq!(data["published"], serde_json::json!(false));
        assert_eq!(data["author"]["name"], "Ada Lovelace");

        conn.execute("DELETE FROM fraiseql_mutation_response", [])
            .expect("take");
        conn.execute(
            "INSERT INTO fn_create_post (p_author_id, p_title, p_body) VALUES ('nobody', 'x', 'y')",
            [],
        )
        .expect("call");
        let statuses: Vec<String> = conn
            .prepare("SELECT status FROM fraiseql_mutation_response")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("rows");
        assert_eq!(statuses, ["failed:not_found"]);
    }
}
