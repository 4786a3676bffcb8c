//! Errors that decide an exit code: the kind says which, the message says what to do.

use std::fmt;

/// What went wrong, in the terms of the toolkit's exit-code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A line that cannot be used (exit 2 unless skipped).
    BadLine,
    /// The input is truncated or corrupt (exit 4).
    Verification,
    /// The input is something ely does not read (exit 2).
    Unsupported,
}

#[derive(Debug, Clone)]
pub struct StreamError {
    pub kind: ErrorKind,
    pub message: String,
}

impl StreamError {
    pub fn bad_line(input: &str, line: u64, reason: impl fmt::Display) -> Self {
        StreamError {
            kind: ErrorKind::BadLine,
            message: format!(
                "{input}: line {line}: {reason} (use --skip-bad --dead-letter FILE to set bad lines aside)"
            ),
        }
    }

    pub fn verification(input: &str, message: impl fmt::Display) -> Self {
        StreamError {
            kind: ErrorKind::Verification,
            message: format!("{input}: {message} (use --no-verify to read it anyway)"),
        }
    }

    pub fn unsupported(input: &str, message: impl fmt::Display) -> Self {
        StreamError {
            kind: ErrorKind::Unsupported,
            message: format!("{input}: {message}"),
        }
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StreamError {}
