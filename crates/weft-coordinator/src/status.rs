//! Engine errors as gRPC statuses. Validation errors are `weft_proto::status::invalid`
//! (shared with the codec), re-exported here.
use tonic::Status;
use weft_model::validate::cut;
pub use weft_proto::status::{MAX_MESSAGE_CHARS, invalid};

pub fn from_engine(err: weft_engine::Error) -> Status {
    match err {
        weft_engine::Error::Invalid(v) => invalid(&v),
        // Messages may quote what the client sent (a definition name): cut them.
        weft_engine::Error::NotFound { .. } => Status::not_found(cut(&err.to_string(), MAX_MESSAGE_CHARS)),
        weft_engine::Error::FailedPrecondition(m) => Status::failed_precondition(cut(&m, MAX_MESSAGE_CHARS)),
        weft_engine::Error::AlreadyExists(m) => Status::already_exists(cut(&m, MAX_MESSAGE_CHARS)),
    }
}

/// The driver task is gone: the coordinator is shutting down.
pub fn shutting_down() -> Status {
    Status::unavailable("coordinator is shutting down")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn engine_errors_map_to_codes_with_short_messages() {
        let status = from_engine(weft_engine::Error::AlreadyExists("idempotency key `k` was used".into()));
        assert_eq!((status.code(), status.message()), (Code::AlreadyExists, "idempotency key `k` was used"));
        let name = "n".repeat(1_000_000);
        let status = from_engine(weft_engine::Error::NotFound { what: "definition", id: name });
        assert_eq!(status.code(), Code::NotFound);
        assert!(status.message().chars().count() <= MAX_MESSAGE_CHARS + 1);
    }
}
