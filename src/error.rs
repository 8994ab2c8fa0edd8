//! One error type per layer; each says what is wrong in words a coordinator model can act on.
use thiserror::Error;

/// A failure reported by the host (the OpenCode server, the storage, ...).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{operation} failed: {message}")]
pub struct HostError {
    pub operation: &'static str,
    pub message: String,
}

impl HostError {
    pub fn new(operation: &'static str, message: impl Into<String>) -> Self {
        Self {
            operation,
            message: message.into(),
        }
    }
}

/// A failure of the event log.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LogError {
    #[error("event log storage: {0}")]
    Storage(#[from] HostError),
    #[error("event log line {line}: {reason}")]
    Corrupt { line: u64, reason: String },
}

/// Why a tool call was refused or failed. Refusals happen before anything is written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ToolError {
    #[error("invalid argument `{field}`: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    #[error("refused: {0}")]
    Refused(String),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Host(#[from] HostError),
}

impl ToolError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }
}
