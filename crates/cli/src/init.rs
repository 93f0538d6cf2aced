//! `fraiseql init`: scaffolds a project that runs as is: config, SDL schema, SQL schema with
//! sample data, README, and `app.db` created from the SQL so `fraiseql run` works at once.

use crate::output::outln;
use crate::{Failure, Outcome};
use anyhow::{anyhow, Context};
use clap::Args;
use std::path::{Path, PathBuf};

const CONFIG: &str = include_str!("../templates/init/fraiseql.toml");
const SCHEMA: &str = include_str!("../templates/init/schema.graphql");
const SQL: &str = include_str!("../templates/init/db/schema.sql");
const README: &str = include_str!("../templates/init/README.md");
const GITIGNORE: &str = include_str!("../templates/init/gitignore");

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Directory to create (its name becomes the project name).
    #[arg(default_value = "my-fraiseql-app")]
    name: PathBuf,
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
    let files: [(&str, String); 5] = [
        ("fraiseql.toml", CONFIG.replace("{{name}}", &name)),
        ("schema.graphql", SCHEMA.to_string()),
        ("db/schema.sql", SQL.to_string()),
        ("README.md", README.replace("{{name}}", &name)),
        (".gitignore", GITIGNORE.to_string()),
    ];
    std::fs::create_dir_all(dir.join("db"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    for (file, text) in &files {
        let path = dir.join(file);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    create_database(&dir.join("app.db"), SQL)?;

    outln!("Created {} in {}:", name, dir.display())?;
    for (file, _) in &files {
        outln!("  {file}")?;
    }
    outln!("  app.db (from db/schema.sql, with sample data)")?;
    outln!("\nNext:\n  cd {}\n  fraiseql run", dir.display())?;
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
    }

    #[test]
    fn scaffold_sql_creates_a_working_mutation() {
        let conn = rusqlite::Connection::open_in_memory().expect("memory db");
        conn.execute_batch(SQL).expect("schema.sql runs");
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
