//! FraiseQL server: the I/O half (HTTP, pools, execution).
