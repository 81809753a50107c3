//! Integration tests: real databases in temp dirs (SQLite files, or a PostgreSQL cluster's
//! databases with `STEWARD_TEST_ENGINE=postgres`), the real `steward` binary.

#[macro_use]
mod support;
mod audit;
mod authz;
mod bindings;
mod cli;
mod concurrency;
mod crash;
mod evidence;
mod findings;
mod hostile;
mod import;
mod inventory;
mod layering;
mod private;
mod review;
mod scope;
mod team;
mod upgrade;
mod usage;
