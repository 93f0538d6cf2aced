//! Building blocks of the spec harness (`tests/spec.rs`): spec files, fresh databases, and
//! the `fraiseql` server process.

pub(crate) mod database;
pub(crate) mod server;
pub(crate) mod spec_file;
