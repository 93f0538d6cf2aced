//! Configuration: `fraiseql.toml` read, `${ENV}`-expanded and checked into [`Config`].
//! `load`/`parse` are the entry points; every problem in a file comes back at once in a
//! [`ConfigError`], each with its position and key path.

#[allow(dead_code)] // used by the loader, added in the next commits
mod document;
#[allow(dead_code)] // used by the loader, added in the next commit
mod env;
mod error;
mod model;

pub use env::process_env;
pub use error::{ConfigError, Location, Problem};
pub use model::*;
