//! The one error type of the crate. Task failures are not errors of the worker: they are
//! [`crate::TaskError`] values reported to the coordinator.

/// Why a worker could not be built or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is out of range or malformed. `field` is the config field
    /// (`slots`, `queues`, `coordinators[0]`...); the binary maps it to its flag.
    #[error("invalid {field}: {reason}")]
    Config { field: String, reason: String },

    /// Two executors were registered for one kind.
    #[error("an executor for kind `{0}` is registered twice")]
    DuplicateKind(String),

    /// `kinds` names a kind no executor is registered for.
    #[error("invalid kinds: no executor for kind `{kind}`{hint}")]
    UnknownKind { kind: String, hint: &'static str },

    /// The coordinator speaks another protocol version (FAILED_PRECONDITION).
    #[error("coordinator {addr} refused protocol version {version}: {message}")]
    ProtocolMismatch { addr: String, version: u32, message: String },

    /// The coordinator refused the registration (INVALID_ARGUMENT).
    #[error("coordinator {addr} refused the registration: {message}")]
    Rejected { addr: String, message: String },

    /// The HTTP client of the `http` executor could not be built.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
}

impl Error {
    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config { field: field.into(), reason: reason.into() }
    }
}

/// Many transport errors say little at the top ("transport error", "error sending
/// request"); the cause is in their sources.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
