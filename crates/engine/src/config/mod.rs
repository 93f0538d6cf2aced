//! Configuration: `fraiseql.toml` read, `${ENV}`-expanded and checked into [`Config`].
//! `load`/`parse` are the entry points; every problem in a file comes back at once in a
//! [`ConfigError`], each with its position and key path.

mod auth;
mod check;
mod decode;
mod document;
mod env;
mod error;
mod federation;
mod load;
mod model;
mod observers;
mod subscriptions;
mod tenancy;

pub use auth::*;
pub use env::process_env;
pub use error::{ConfigError, Location, Problem};
pub use federation::*;
pub use load::{load, parse};
pub use model::*;
pub use observers::*;
pub use subscriptions::*;
pub use tenancy::*;
