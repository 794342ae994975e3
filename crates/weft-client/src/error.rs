//! The one error type of the client. Every variant says what went wrong in terms a user
//! can act on: the file and line, the field, the address, or the server's own words.
use std::fmt;
use std::path::PathBuf;
use tonic::Code;
use tonic_types::StatusExt;

/// One problem with one field of a request, as the coordinator reported it
/// (`spec.workflows[0].tasks[2].kind: unknown kind `shel``).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.field, self.message) }
    }
}

/// Where in a spec file a problem was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecFileError {
    pub path: PathBuf,
    /// 1-based line and column, when the parser knew them.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Path of the offending field (`workflows[0].steps[1].priority`), when known.
    pub field: Option<String>,
    pub message: String,
    /// The offending lines with a caret under the problem, ready to print (YAML only).
    pub snippet: Option<String>,
}

impl fmt::Display for SpecFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Everything that can go wrong talking to a coordinator or reading a spec file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The coordinator address could not be understood.
    #[error("invalid coordinator address `{address}`: {reason}")]
    InvalidAddress { address: String, reason: String },

    /// TLS files that cannot be used (missing, not PEM, a key that does not go with its
    /// certificate), found before dialling.
    #[error("TLS: {message}")]
    Tls { message: String },

    /// Nothing answered at the address (connection refused, DNS failure, timeout).
    #[error("coordinator unreachable at {address}: {reason}")]
    Unreachable { address: String, reason: String },

    /// Several coordinators were given and none of them leads (all standbys or unreachable).
    #[error("no coordinator leads: {heard}")]
    NoLeader { heard: String },

    /// A spec file could not be read from disk.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A spec file's extension is not one we know how to parse.
    #[error("{}: unknown file type; use .yaml, .yml or .json", path.display())]
    UnknownFileType { path: PathBuf },

    /// A spec file did not parse into a process spec.
    #[error("{0}")]
    SpecFile(Box<SpecFileError>),

    /// A value handed to the client was unusable before anything was sent
    /// (input that is not JSON, a run id that is not a UUID).
    #[error("{field}: {message}")]
    InvalidInput { field: String, message: String },

    /// The coordinator refused the request as malformed (INVALID_ARGUMENT). `violations`
    /// holds its per-field details when it sent them.
    #[error("request refused: {}", describe_refusal(message, violations))]
    InvalidArgument { message: String, violations: Vec<FieldViolation> },

    /// The run or definition does not exist (NOT_FOUND). The coordinator's message names it.
    #[error("{message}")]
    NotFound { message: String },

    /// The request conflicts with the current state (FAILED_PRECONDITION, ALREADY_EXISTS,
    /// ABORTED), e.g. cancelling a run that already finished.
    #[error("refused ({code:?}): {message}")]
    Conflict { code: Code, message: String },

    /// The coordinator went away or could not serve the call (UNAVAILABLE).
    #[error("coordinator unavailable: {message}")]
    Unavailable { message: String },

    /// The connection broke during the call, before the coordinator answered (closed or
    /// reset, a TLS alert): the coordinator went away, or it serves mutual TLS and refused
    /// this client's certificate (or its lack of one). Under TLS 1.3 that refusal shows at
    /// the first call, not at connect.
    #[error("the connection to the coordinator failed during the call: {message}")]
    Connection { message: String },

    /// Any other gRPC status.
    #[error("{code:?}: {message}")]
    Rpc { code: Code, message: String },

    /// The coordinator answered with something this client cannot make sense of.
    #[error("unexpected response from the coordinator: {0}")]
    Protocol(String),
}

fn describe_refusal(message: &str, violations: &[FieldViolation]) -> String {
    if violations.is_empty() {
        return message.to_string();
    }
    violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl Error {
    /// The field violations of an INVALID_ARGUMENT answer; empty for every other error.
    pub fn violations(&self) -> &[FieldViolation] {
        match self {
            Error::InvalidArgument { violations, .. } => violations,
            _ => &[],
        }
    }

    /// True when the problem lies in what the caller supplied (a file, an address, a value)
    /// and was found before anything reached the coordinator.
    pub fn is_local_input(&self) -> bool {
        matches!(
            self,
            Error::InvalidAddress { .. }
                | Error::Tls { .. }
                | Error::ReadFile { .. }
                | Error::UnknownFileType { .. }
                | Error::SpecFile(_)
                | Error::InvalidInput { .. }
        )
    }
}

/// The status's message, and for a call that failed in the transport its innermost cause,
/// which alone says what happened ("received fatal alert: CertificateRequired").
fn message_with_cause(status: &tonic::Status) -> String {
    let mut cause = std::error::Error::source(status);
    while let Some(inner) = cause.and_then(std::error::Error::source) {
        cause = Some(inner);
    }
    match cause {
        Some(cause) => format!("{} ({cause})", status.message()),
        None => status.message().to_string(),
    }
}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        let message = message_with_cause(&status);
        // A status with a source was made on this side from a transport failure; one the
        // coordinator sent has none.
        if std::error::Error::source(&status).is_some() && matches!(status.code(), Code::Unknown | Code::Cancelled) {
            return Error::Connection { message };
        }
        match status.code() {
            Code::InvalidArgument => {
                // The coordinator attaches google.rpc.BadRequest field violations; older or
                // foreign servers may send only the message, which is then all we show.
                let violations = status
                    .get_details_bad_request()
                    .map(|bad| {
                        bad.field_violations
                            .into_iter()
                            .map(|v| FieldViolation { field: v.field, message: v.description })
                            .collect()
                    })
                    .unwrap_or_default();
                Error::InvalidArgument { message, violations }
            }
            Code::NotFound => Error::NotFound { message },
            Code::FailedPrecondition | Code::AlreadyExists | Code::Aborted => {
                Error::Conflict { code: status.code(), message }
            }
            Code::Unavailable => Error::Unavailable { message },
            code => Error::Rpc { code, message },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::ErrorDetails;

    #[test]
    fn invalid_argument_details_become_field_violations() {
        let mut details = ErrorDetails::new();
        details.add_bad_request_violation("spec.workflows[0].tasks[1].kind", "unknown kind `shel`");
        details.add_bad_request_violation("input_json", "is not valid JSON");
        let status = tonic::Status::with_error_details(Code::InvalidArgument, "invalid spec", details);
        let err = Error::from(status);
        assert_eq!(
            err.violations(),
            [
                FieldViolation {
                    field: "spec.workflows[0].tasks[1].kind".into(),
                    message: "unknown kind `shel`".into()
                },
                FieldViolation { field: "input_json".into(), message: "is not valid JSON".into() },
            ]
        );
        assert_eq!(
            err.to_string(),
            "request refused: spec.workflows[0].tasks[1].kind: unknown kind `shel`; input_json: is not valid JSON"
        );
    }

    #[test]
    fn invalid_argument_without_details_keeps_the_message() {
        let err = Error::from(tonic::Status::invalid_argument("name must equal spec.name"));
        assert!(err.violations().is_empty());
        assert_eq!(err.to_string(), "request refused: name must equal spec.name");
    }

    #[test]
    fn status_codes_map_to_variants() {
        assert!(matches!(Error::from(tonic::Status::not_found("run x")), Error::NotFound { .. }));
        assert!(matches!(Error::from(tonic::Status::failed_precondition("done")), Error::Conflict { .. }));
        assert!(matches!(Error::from(tonic::Status::unavailable("gone")), Error::Unavailable { .. }));
        assert!(matches!(Error::from(tonic::Status::internal("boom")), Error::Rpc { code: Code::Internal, .. }));
    }

    #[test]
    fn a_call_broken_in_the_transport_is_a_connection_error() {
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, "received fatal alert: CertificateRequired");
        let mut status = tonic::Status::unknown("transport error");
        status.set_source(std::sync::Arc::new(io));
        let err = Error::from(status);
        assert!(matches!(err, Error::Connection { .. }), "{err:?}");
        assert!(err.to_string().contains("transport error (received fatal alert: CertificateRequired)"), "{err}");
        // The same code from the coordinator itself is its answer.
        assert!(matches!(Error::from(tonic::Status::unknown("boom")), Error::Rpc { code: Code::Unknown, .. }));
    }

    #[test]
    fn spec_file_error_names_place_and_field() {
        let e = SpecFileError {
            path: "orders.yaml".into(),
            line: Some(7),
            column: Some(19),
            field: Some("workflows[0].steps[0].priority".into()),
            message: "invalid i32".into(),
            snippet: None,
        };
        assert_eq!(e.to_string(), "orders.yaml:7:19: workflows[0].steps[0].priority: invalid i32");
    }
}
