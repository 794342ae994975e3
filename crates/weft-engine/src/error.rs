use weft_model::ValidationError;

/// Why the engine refused an input. Nothing of a refused input is applied.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; the violations name the fields.
    #[error("invalid request: {0}")]
    Invalid(#[from] ValidationError),
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },
    /// The request is well formed but the target is in the wrong state for it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The request names something that exists already with different content: an
    /// idempotency key reused with another spec or input.
    #[error("{0}")]
    AlreadyExists(String),
}
