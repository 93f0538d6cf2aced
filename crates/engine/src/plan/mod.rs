//! Planning: a prepared operation and its variables become a [`Plan`] — plain data naming,
//! for each root field, the view or function to use, the filter, order, page and projection.

mod build;
mod collect;
mod estimate;
mod input;
mod model;

pub use build::{coerce_variables, plan};
pub use model::*;
