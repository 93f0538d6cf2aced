//! Planning: a prepared operation and its variables become a [`Plan`] — plain data naming,
//! for each root field, the view or function to use, the filter, order, page and projection.

mod build;
mod collect;
mod entities;
mod estimate;
mod input;
mod model;
mod scalar;

pub use build::{coerce_variables, plan};
pub use entities::{assemble_entities, hidden_roots};
pub use model::*;
pub(crate) use scalar::{canonical_uuid, is_canonical_uuid};
