//! The library's error type and the closed set of codes the desktop UI branches on.

use serde::{Serialize, Serializer};
use ts_rs::TS;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Stable, closed set of error codes shared with the UI (`ApiError.code`).
///
/// The UI and scripts branch on the code, never on message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    NotFound,
    Ambiguous,
    Invalid,
    Import,
    Conflict,
    Forbidden,
    Cancelled,
    /// Tampering: the audit chain, a checkpoint or an evidence package is not what was signed.
    Integrity,
    Storage,
    /// A store outside the database (the OS keychain) cannot be used now.
    Unavailable,
    /// A fault of Steward's own (a task that stopped, a value it could not encode or read
    /// back), not of the data's integrity.
    Internal,
    /// An authorization server could not be reached or answered with an error.
    Remote,
}

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Ambiguous(String),
    /// Bad input from a command or form: names the field.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// Bad input from a file: names the file, the line or record, and the field.
    #[error("{file}: {location}: {field}: {message}")]
    Import {
        file: String,
        location: String,
        field: String,
        message: String,
    },
    #[error("{0}")]
    Conflict(String),
    /// The user cancelled a long operation; nothing was written.
    #[error("cancelled; nothing was written")]
    Cancelled,
    /// A rule of separation of duties or of assignment refuses the actor.
    #[error("{0}")]
    Forbidden(String),
    /// Tampering, and nothing else: the audit chain, a checkpoint or an evidence package is
    /// not what was recorded or signed.
    #[error("{0}")]
    Integrity(String),
    /// A store outside the database (the OS keychain) cannot be used now: locked, or no
    /// service answers.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of Steward's own: a task that stopped, a value it could not encode, or one it
    /// wrote that it cannot read back.
    #[error("{0}")]
    Internal(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A bulk read on an export's own connection ([`crate::store::bulk`]).
    #[error("database error: {0}")]
    Bulk(#[from] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// An authorization server could not be reached, or answered with an error: names the URL.
    #[error("{url}: {message}")]
    Remote { url: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Remote`].
    pub fn remote(url: impl std::fmt::Display, message: impl Into<String>) -> Self {
        Error::Remote {
            url: url.to_string(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    /// The code the UI branches on.
    pub fn code(&self) -> Code {
        match self {
            Error::NotFound(_) => Code::NotFound,
            Error::Ambiguous(_) => Code::Ambiguous,
            Error::Invalid { .. } => Code::Invalid,
            Error::Import { .. } => Code::Import,
            Error::Conflict(_) => Code::Conflict,
            Error::Forbidden(_) => Code::Forbidden,
            Error::Cancelled => Code::Cancelled,
            Error::Integrity(_) => Code::Integrity,
            Error::Unavailable(_) => Code::Unavailable,
            Error::Internal(_) => Code::Internal,
            Error::Remote { .. } => Code::Remote,
            Error::Db(_) | Error::Bulk(_) | Error::Migrate(_) | Error::Io { .. } => Code::Storage,
        }
    }
}

/// The error as it crosses IPC: `{code, message}`.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
}

impl From<&Error> for ApiError {
    fn from(e: &Error) -> Self {
        ApiError {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl Serialize for Error {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        ApiError::from(self).serialize(s)
    }
}
