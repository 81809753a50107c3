//! Integration tests: real SQLite files in temp dirs, the real `steward` binary.

mod audit;
mod bindings;
mod cli;
mod evidence;
mod findings;
mod import;
mod inventory;
mod review;
mod scope;
mod support;
mod team;
mod usage;
