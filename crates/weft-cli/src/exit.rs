//! Exit codes, so scripts can tell "the run failed" from "you typed it wrong".
//!
//! - 0: done (and, for commands that wait, the run succeeded).
//! - 1: the run failed or was cancelled, the coordinator refused the request, or it could
//!   not be reached.
//! - 2: usage: a bad flag (clap exits with 2 itself), or a file or value that is wrong
//!   before anything was sent.
//! - 130: interrupted with Ctrl-C while waiting for a run (the shell convention, 128 + SIGINT).
use weft_model::RunStatus;

pub const OK: u8 = 0;
pub const FAILED: u8 = 1;
pub const USAGE: u8 = 2;
pub const INTERRUPTED: u8 = 130;

/// The exit code of a command that waited for a run to end.
pub fn for_status(status: Option<RunStatus>) -> u8 {
    match status {
        Some(RunStatus::Succeeded) => OK,
        // Failed, cancelled, or (should not happen after a wait) still running or unknown.
        _ => FAILED,
    }
}

/// The exit code of a command that ended with an error.
pub fn for_error(error: &anyhow::Error) -> u8 {
    if let Some(e) = error.downcast_ref::<weft_client::Error>()
        && e.is_local_input()
    {
        return USAGE;
    }
    if error.downcast_ref::<weft_model::ValidationError>().is_some() {
        return USAGE;
    }
    FAILED
}

/// True for a write to a closed pipe (`weftctl runs | head -1`), which is not a failure.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_outcomes() {
        assert_eq!(for_status(Some(RunStatus::Succeeded)), OK);
        assert_eq!(for_status(Some(RunStatus::Failed)), FAILED);
        assert_eq!(for_status(Some(RunStatus::Cancelled)), FAILED);
        assert_eq!(for_status(Some(RunStatus::Running)), FAILED);
        assert_eq!(for_status(None), FAILED);
    }

    #[test]
    fn errors() {
        let bad_file = weft_client::Error::UnknownFileType { path: "x.toml".into() };
        assert_eq!(for_error(&anyhow::Error::new(bad_file)), USAGE);
        let bad_address = weft_client::Error::InvalidAddress { address: "h:".into(), reason: "empty port".into() };
        assert_eq!(for_error(&anyhow::Error::new(bad_address).context("connecting")), USAGE);
        let invalid = weft_model::ValidationError::single("workflows", "a process needs at least one workflow");
        assert_eq!(for_error(&anyhow::Error::new(invalid)), USAGE);
        let refused = weft_client::Error::InvalidArgument { message: "bad".into(), violations: vec![] };
        assert_eq!(for_error(&anyhow::Error::new(refused)), FAILED);
        let unreachable = weft_client::Error::Unreachable { address: "h".into(), reason: "refused".into() };
        assert_eq!(for_error(&anyhow::Error::new(unreachable)), FAILED);
        assert_eq!(for_error(&anyhow::anyhow!("weft-worker not found")), FAILED);
    }

    #[test]
    fn broken_pipes_are_recognised_through_context() {
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(is_broken_pipe(&anyhow::Error::new(pipe).context("printing")));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}
