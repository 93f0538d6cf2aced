//! Configuration: `fraiseql.toml` read, `${ENV}`-expanded and checked into [`Config`].

mod model;

pub use model::*;
