//! The outbox against real PostgreSQL, MariaDB and SQLite.
