//! Validation errors as gRPC statuses, with field violations attached to INVALID_ARGUMENT
//! so any client can show which field was wrong. Used by the coordinator's handlers and by
//! the codec, which refuses some requests before they are decoded.
//!
//! A status travels in HTTP/2 headers (`grpc-message`, and `grpc-status-details-bin` holding
//! the message again and every violation, base64), which clients bound: 8 KiB in grpcio, 16 KiB
//! in hyper. So whatever the request, the message is at most [`MAX_MESSAGE_CHARS`] and the
//! violations are capped by [`ValidationError::with_omitted`] (at most `MAX_VIOLATIONS`,
//! `MAX_VIOLATIONS_BYTES`, the rest counted in a last entry): a refusal stays near 6 KiB.
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use weft_model::ValidationError;
use weft_model::limits::MAX_VIOLATIONS;
use weft_model::validate::cut;

/// Characters of a status message.
pub const MAX_MESSAGE_CHARS: usize = 256;

/// A validation error as INVALID_ARGUMENT: a short message and the violations as
/// `google.rpc.BadRequest` details, both capped.
pub fn invalid(err: &ValidationError) -> Status {
    // Capped again whoever made the error, without copying more than a capped error holds.
    let keep = err.violations.len().min(MAX_VIOLATIONS + 1);
    let err = ValidationError::with_omitted(err.violations[..keep].to_vec(), err.violations.len() - keep);
    let mut details = ErrorDetails::new();
    for v in &err.violations {
        details.add_bad_request_violation(v.field.clone(), v.message.clone());
    }
    Status::with_error_details(Code::InvalidArgument, summary(&err), details)
}

/// Every violation when they are few and short (clients that print the message then show
/// nothing twice), else how many there are and the first.
fn summary(err: &ValidationError) -> String {
    let all = err.to_string();
    if all.chars().count() <= MAX_MESSAGE_CHARS {
        return all;
    }
    let listed = err.violations.iter().filter(|v| !v.field.is_empty()).count();
    let total = listed + err.omitted();
    match err.violations.first() {
        Some(first) if total > 1 => {
            cut(&format!("{total} problems, the first: {}: {}", first.field, first.message), MAX_MESSAGE_CHARS)
        }
        _ => cut(&all, MAX_MESSAGE_CHARS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_model::Violation;
    use weft_model::limits::MAX_VIOLATIONS_BYTES;

    /// Bytes the status takes in headers, as tonic sends it.
    fn header_bytes(status: &Status) -> usize {
        let response = status.clone().into_http::<()>();
        response.headers().iter().map(|(k, v)| k.as_str().len() + v.len()).sum()
    }

    #[test]
    fn a_refusal_of_any_size_stays_small_and_says_how_many_more() {
        // Violations made without the model's cap: 10,000, each long.
        let violations: Vec<Violation> = (0..10_000)
            .map(|i| Violation { field: format!("spec.workflows[0].tasks[{i}].kind"), message: "é".repeat(1_000) })
            .collect();
        let status = invalid(&ValidationError { violations });
        assert_eq!(status.code(), Code::InvalidArgument);
        let bad = status.get_details_bad_request().unwrap().field_violations;
        assert!(bad.len() <= MAX_VIOLATIONS + 1);
        let more = bad.last().unwrap();
        assert_eq!(more.field, "");
        assert_eq!(more.description, format!("and {} more problems not listed", 10_000 - (bad.len() - 1)));
        let listed: usize = bad.iter().map(|v| v.field.len() + v.description.len()).sum();
        assert!(listed <= MAX_VIOLATIONS_BYTES + 64, "{listed}");
        assert!(status.message().starts_with("10000 problems, the first: spec.workflows[0].tasks[0].kind: éé"));
        assert!(status.message().chars().count() <= MAX_MESSAGE_CHARS + 1);
        // Under grpcio's 8 KiB metadata limit with room to spare.
        assert!(header_bytes(&status) < 7 * 1024, "{} bytes", header_bytes(&status));
    }

    #[test]
    fn few_short_violations_are_the_message() {
        let err = ValidationError::single("spec.name", "must not be empty");
        let status = invalid(&err);
        assert_eq!(status.message(), "spec.name: must not be empty");
        assert_eq!(status.get_details_bad_request().unwrap().field_violations.len(), 1);
    }
}
