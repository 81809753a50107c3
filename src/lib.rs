//! Steward: governance of SMART on FHIR access.
//!
//! Every SMART app, backend service and service account is a non-human identity with owners,
//! a purpose, scopes and credentials. The core library holds the domain and the SQLite store;
//! [`api`] is the one use-case layer that both the `steward` CLI and the desktop shell call.
//! This crate never depends on the desktop toolkit.

pub mod api;
pub mod audit;
pub mod connect;
pub mod error;
pub mod evidence;
pub mod export;
#[allow(unsafe_code)]
pub mod fenced;
pub mod inventory;
pub mod policy;
pub mod review;
pub mod scope;
pub mod store;
#[cfg(test)]
mod test_json;
pub mod time;
pub mod usage;

pub use error::{Code, Error, Result};

/// The version and the commit this program was built from, as `steward --version` and the
/// window's About box give them.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("STEWARD_COMMIT"),
    ")"
);
pub use store::Store;
