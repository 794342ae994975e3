//! The ready line: one JSON object on stdout, printed once a binary serves, for scripts,
//! `weftctl dev` and the tests (which start binaries on port 0 and learn the port from it).
//! Everything else a binary says goes to stderr.
use serde::{Deserialize, Serialize};
use std::io::Write;

/// `{"grpc":"127.0.0.1:PORT","metrics":"127.0.0.1:PORT","pid":N}` from weft-coordinator,
/// once it listens (`metrics` is null with `--metrics-listen off`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoordinatorReady {
    pub grpc: String,
    pub metrics: Option<String>,
    pub pid: u32,
}

/// `{"worker_id":"<uuid>","name":"<name>"}` from weft-worker, once it first registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerReady {
    pub worker_id: String,
    pub name: String,
}

/// Prints `ready` as one line on stdout and flushes it.
pub fn announce(ready: &impl Serialize) -> std::io::Result<()> {
    let line = serde_json::to_string(ready).map_err(std::io::Error::other)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_lines_keep_their_documented_form_and_read_back() {
        let c = CoordinatorReady { grpc: "127.0.0.1:1".into(), metrics: None, pid: 7 };
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(text, r#"{"grpc":"127.0.0.1:1","metrics":null,"pid":7}"#);
        assert_eq!(serde_json::from_str::<CoordinatorReady>(&text).unwrap(), c);
        let w = WorkerReady { worker_id: "01a2".into(), name: "a \"quoted\" name".into() };
        let text = serde_json::to_string(&w).unwrap();
        assert_eq!(text, r#"{"worker_id":"01a2","name":"a \"quoted\" name"}"#);
        assert_eq!(serde_json::from_str::<WorkerReady>(&text).unwrap(), w);
    }
}
