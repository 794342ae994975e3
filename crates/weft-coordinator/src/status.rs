//! Engine and validation errors as gRPC statuses, with field violations attached to
//! INVALID_ARGUMENT so any client can show which field was wrong.
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use weft_model::ValidationError;

pub fn invalid(err: &ValidationError) -> Status {
    let mut details = ErrorDetails::new();
    for v in &err.violations {
        details.add_bad_request_violation(v.field.clone(), v.message.clone());
    }
    Status::with_error_details(Code::InvalidArgument, err.to_string(), details)
}

pub fn from_engine(err: weft_engine::Error) -> Status {
    match err {
        weft_engine::Error::Invalid(v) => invalid(&v),
        weft_engine::Error::NotFound { .. } => Status::not_found(err.to_string()),
        weft_engine::Error::FailedPrecondition(m) => Status::failed_precondition(m),
    }
}

/// The driver task is gone: the coordinator is shutting down.
pub fn shutting_down() -> Status {
    Status::unavailable("coordinator is shutting down")
}
