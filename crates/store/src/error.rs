//! Store errors, sorted by what the caller should do about them: retrying is over (the
//! store is unreachable), the request itself is wrong, or the store refused it. Messages
//! never hold the API key.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The store could not be reached, or kept failing until the retries ran out (exit 3).
    Unavailable,
    /// The API key is missing or wrong (401), or lacks a permission (403).
    Auth,
    /// No such collection, tenant or object.
    NotFound,
    /// Already exists (a collection with the same name, say).
    Conflict,
    /// The store refused the request as invalid (Weaviate's 4xx, or the same checks locally).
    Invalid,
    /// Anything else: an unexpected answer, a local I/O or SQLite failure.
    Other,
}

#[derive(Debug, Clone)]
pub struct StoreError {
    pub kind: ErrorKind,
    pub message: String,
}

impl StoreError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> StoreError {
        StoreError {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> StoreError {
        StoreError::new(ErrorKind::Invalid, message)
    }

    pub fn not_found(message: impl Into<String>) -> StoreError {
        StoreError::new(ErrorKind::NotFound, message)
    }

    pub fn other(message: impl Into<String>) -> StoreError {
        StoreError::new(ErrorKind::Other, message)
    }

    /// The exit code of DESIGN.md section 5 for a run that ends with this error.
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            ErrorKind::Unavailable => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        let kind = match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                ErrorKind::Unavailable
            }
            _ => ErrorKind::Other,
        };
        StoreError::new(kind, format!("embedded store: {e}"))
    }
}
