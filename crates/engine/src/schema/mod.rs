//! Schema: the authored input (`schema.json` or `schema.graphql`) compiled into the model the
//! planner reads.

mod input;

pub use input::*;
