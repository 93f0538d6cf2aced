//! The quickstart as a test scenario: its SQLite database (schema and seed, in a temporary
//! directory), its `fraiseql.toml` (memory backend events) with extra TOML appended, and
//! its schema, served on a free port.

use fraiseql_engine::config::parse;
use fraiseql_server::Running;
use std::path::{Path, PathBuf};

/// Order ids of the quickstart's seed.
pub(crate) const ORDER_4: &str = "a0000000-0000-4000-8000-000000000004";
pub(crate) const ORDER_5: &str = "a0000000-0000-4000-8000-000000000005";

/// A quickstart server and its database file.
pub(crate) struct Quickstart {
    pub(crate) running: Running,
    pub(crate) db: PathBuf,
    _dir: tempfile::TempDir,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart")
}

impl Quickstart {
    /// Serves the quickstart with `extra` TOML appended to its config.
    pub(crate) async fn start(extra: &str) -> Quickstart {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("quickstart.db");
        let conn = rusqlite::Connection::open(&db).unwrap();
        for script in ["db/schema.sql", "db/seed.sql"] {
            conn.execute_batch(&std::fs::read_to_string(root().join(script)).unwrap())
                .unwrap();
        }
        drop(conn);
        let toml = std::fs::read_to_string(root().join("fraiseql.toml"))
            .unwrap()
            .replace(
                "sqlite://./data/quickstart.db",
                &format!("sqlite://{}", db.display()),
            );
        let toml = format!("{toml}\n{extra}\n");
        let config = parse(&toml, "fraiseql.toml", &|_| None).unwrap_or_else(|e| panic!("{e}"));
        let sdl = std::fs::read_to_string(root().join("schema.graphql")).unwrap();
        Quickstart {
            running: super::serve(config, &sdl).await,
            db,
            _dir: dir,
        }
    }

    pub(crate) fn addr(&self) -> String {
        self.running.addr.to_string()
    }

    pub(crate) fn base(&self) -> String {
        super::base(&self.running)
    }
}
