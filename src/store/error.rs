//! The one error type of the storage layer.
//!
//! Every failure a user can meet while keys are stored or read becomes a
//! [`SecureStoreError`] with one of six codes and a remediation that says what
//! to do next. Messages name keys and paths, never values.

use std::fmt;

/// What went wrong, in the six words llxprt-code uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Unavailable,
    Locked,
    Denied,
    Corrupt,
    Timeout,
    NotFound,
}

impl ErrorCode {
    /// The upper-case name shown to users and used by llxprt-code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Locked => "LOCKED",
            ErrorCode::Denied => "DENIED",
            ErrorCode::Corrupt => "CORRUPT",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::NotFound => "NOT_FOUND",
        }
    }

    /// The default remediation for this code (llxprt strings).
    pub fn remediation(self) -> &'static str {
        match self {
            ErrorCode::Unavailable => {
                "Use --key, install a keyring backend, or change fallbackPolicy to allow"
            }
            ErrorCode::Locked => "Unlock your keyring",
            ErrorCode::Denied => "Check permissions, run as correct user",
            ErrorCode::Corrupt => "Re-save the key or re-authenticate",
            ErrorCode::Timeout => "Retry, check system load",
            ErrorCode::NotFound => "Save the key first",
        }
    }

    /// Classify a keyring failure from its message alone (llxprt's rule, first match wins).
    pub fn classify_message(message: &str) -> ErrorCode {
        let lower = message.to_lowercase();
        if lower.contains("locked") {
            ErrorCode::Locked
        } else if lower.contains("denied") || lower.contains("permission") {
            ErrorCode::Denied
        } else if lower.contains("timeout") || lower.contains("timed out") {
            ErrorCode::Timeout
        } else if lower.contains("not found") {
            ErrorCode::NotFound
        } else {
            ErrorCode::Unavailable
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A storage failure: a code, a message that never holds a secret, and what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SecureStoreError {
    pub code: ErrorCode,
    pub message: String,
    pub remediation: String,
}

impl SecureStoreError {
    /// An error with the code's default remediation.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        SecureStoreError {
            code,
            message: message.into(),
            remediation: code.remediation().to_string(),
        }
    }

    /// An error with a remediation of its own.
    pub fn with_remediation(
        code: ErrorCode,
        message: impl Into<String>,
        remediation: impl Into<String>,
    ) -> Self {
        SecureStoreError {
            code,
            message: message.into(),
            remediation: remediation.into(),
        }
    }

    pub(crate) fn corrupt(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Corrupt, message)
    }

    /// An I/O failure on a fallback file or directory, named by path.
    pub(crate) fn io(action: &str, path: &std::path::Path, err: &std::io::Error) -> Self {
        let code = match err.kind() {
            std::io::ErrorKind::PermissionDenied => ErrorCode::Denied,
            std::io::ErrorKind::NotFound => ErrorCode::NotFound,
            std::io::ErrorKind::TimedOut => ErrorCode::Timeout,
            _ => ErrorCode::Unavailable,
        };
        let remediation = match code {
            ErrorCode::Denied => format!(
                "Check the owner and mode of {} (run keyshell as the user who owns it)",
                path.display()
            ),
            _ => format!("Check that {} is a writable directory", path.display()),
        };
        Self::with_remediation(
            code,
            format!("Failed to {action} {}: {err}", path.display()),
            remediation,
        )
    }
}
