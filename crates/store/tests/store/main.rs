//! The store against a real PostgreSQL: one fresh, migrated database per test
//! (`#[sqlx::test]`; needs `DATABASE_URL` of a role with CREATEDB, as the Makefile sets).

mod common;

mod commit;
mod connections;
mod errors;
mod records;
mod runs;
mod status;
mod tables;
mod views;
