//! FraiseQL engine: the pure half of the system. Config model, schema compile, GraphQL
//! prepare/plan, SQL rendering per dialect and response assembly. No sockets, no clock, no
//! async runtime; the server crate runs what this crate decides.

// GraphQLError is large but only travels on the error path, once per request.
#![allow(clippy::result_large_err)]

pub mod authorize;
pub mod catalog;
pub mod config;
pub mod error;
pub mod ftv1;
pub mod plan;
pub mod request;
pub mod response;
pub mod schema;
pub mod splice;
pub mod sql;
pub mod suggest;
