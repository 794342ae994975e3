//! Helpers shared by the end-to-end tests.
use std::collections::HashMap;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use weft_client::pb;
use weft_client::{Client, ProcessSpec, RunId, RunSource, SpecFormat, StartOptions};

pub fn spec(yaml: &str) -> ProcessSpec {
    weft_client::parse_spec(yaml, SpecFormat::Yaml, "inline.yaml").expect("test spec parses")
}

/// Starts an inline spec and waits for the run to end; returns the final run.
pub async fn run_to_end(client: &Client, spec: &ProcessSpec) -> pb::Run {
    let started = client.start_run(RunSource::Inline(spec), StartOptions::default()).await.expect("start run");
    wait(client, started.run_id).await
}

pub async fn wait(client: &Client, run_id: RunId) -> pb::Run {
    tokio::time::timeout(weft_e2e::WAIT, client.wait_run(run_id)).await.expect("run ends in time").expect("wait run")
}

/// Tasks of a run by "workflow/task".
pub fn tasks(run: &pb::Run) -> HashMap<String, pb::TaskRun> {
    run.workflows
        .iter()
        .flat_map(|w| w.tasks.iter().map(|t| (format!("{}/{}", t.workflow, t.name), t.clone())))
        .collect()
}

pub fn assert_succeeded(run: &pb::Run) {
    assert_eq!(
        run.status,
        pb::RunStatus::Succeeded as i32,
        "run {} ended {:?}: {}",
        run.run_id,
        run.status,
        run.reason
    );
}

/// A codec that sends the bytes it is given, as they are, and reads the answer as bytes.
#[derive(Clone, Copy, Default)]
pub struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(buf, &item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let mut out = vec![0; bytes::Buf::remaining(buf)];
        bytes::Buf::copy_to_slice(buf, &mut out);
        Ok(Some(out))
    }
}

/// Sends `body` as the request message of a unary method over a new HTTP/2 connection.
pub async fn raw_call(address: &str, method: &'static str, body: Vec<u8>) -> Result<Vec<u8>, tonic::Status> {
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{address}")).unwrap().connect().await.unwrap();
    raw_call_on(channel, method, body).await
}

/// Sends `body` as the request message of a unary method on `channel`.
pub async fn raw_call_on(
    channel: tonic::transport::Channel,
    method: &'static str,
    body: Vec<u8>,
) -> Result<Vec<u8>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel).max_encoding_message_size(usize::MAX);
    grpc.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(method);
    grpc.unary(tonic::Request::new(body), path, Raw).await.map(|r| r.into_inner())
}

/// Runs `weftctl --coordinator GRPC ARGS...` to the end, from the repository root (for
/// `examples/`), with no `WEFT_COORDINATOR` of the test's environment.
pub async fn weftctl_at(grpc: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(weft_e2e::binary("weftctl"));
    cmd.arg("--coordinator")
        .arg(grpc)
        .args(args)
        .current_dir(weft_e2e::repo_root())
        .env_remove("WEFT_COORDINATOR")
        .kill_on_drop(true);
    tokio::time::timeout(weft_e2e::WAIT, cmd.output()).await.expect("weftctl finishes in time").expect("weftctl runs")
}

/// A tokens file made with `weftctl admin token new`, and each token by name.
pub struct Tokens {
    dir: tempfile::TempDir,
    /// The tokens file, for `--tokens`.
    pub file: String,
    pub token: std::collections::HashMap<String, String>,
}

impl Tokens {
    pub async fn make(specs: &[(&str, &str)]) -> Tokens {
        let dir = tempfile::tempdir().unwrap();
        let mut lines = String::new();
        let mut token = std::collections::HashMap::new();
        for (name, roles) in specs {
            let out = tokio::process::Command::new(weft_e2e::binary("weftctl"))
                .args(["-o", "json", "admin", "token", "new", name, "--roles", roles])
                .kill_on_drop(true)
                .output()
                .await
                .expect("weftctl admin token new");
            assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
            let made: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let (secret, line) = (made["token"].as_str().unwrap(), made["line"].as_str().unwrap());
            assert!(!line.contains(secret.trim_start_matches("weft_")), "the line holds no plain token");
            lines.push_str(&format!("{line}\n"));
            token.insert(name.to_string(), secret.to_string());
        }
        let file = dir.path().join("tokens");
        std::fs::write(&file, lines).unwrap();
        Tokens { file: file.to_str().unwrap().to_string(), dir, token }
    }

    pub fn of(&self, name: &str) -> &str {
        &self.token[name]
    }

    /// A file holding the token of `name`, as `--token-file` reads it.
    pub fn file_of(&self, name: &str) -> String {
        let path: std::path::PathBuf = self.dir.path().join(format!("{name}.token"));
        std::fs::write(&path, format!("{}\n", self.of(name))).unwrap();
        path.to_str().unwrap().to_string()
    }
}
