//! The files of an evidence package, encoded: CSV, JSON lines, and the report (HTML and PDF).
//! Fed by `api`, which reads the store; nothing here reads a database.

pub mod csv;
pub mod jsonl;
pub mod report;
