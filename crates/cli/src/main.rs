//! The `fraiseql` binary.
fn main() {}
