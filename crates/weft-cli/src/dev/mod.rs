//! `weftctl dev`: a whole local cluster in one command. Starts a coordinator on a free
//! port and N workers (shell allowed) with logs in a temp dir, submits a process file,
//! follows the run with live progress, prints its summary, and stops everything (with
//! `--stay`, only at Ctrl-C, so other clients can use the cluster meanwhile).
use crate::cli::{DevArgs, DevStore};
use crate::exit;
use crate::follow::{follow_run, interrupted};
use crate::output::OutputFormat;
use crate::procs::{Binaries, COORDINATOR, CoordinatorReady, Procs, WORKER, WorkerReady};
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::time::Duration;
use weft_client::{Client, ProcessSpec, RunId, RunSource, SpecFormat, StartOptions, load_spec_file, parse_spec};

/// The file `dev` runs when given none.
const DEFAULT_FILE: &str = "examples/order-fulfilment.yaml";
/// A copy of it, so `weftctl dev` also works outside a checkout of the repository.
const BUILT_IN_EXAMPLE: &str = include_str!("../../../../examples/order-fulfilment.yaml");
/// How long a child may take to print its ready line (a cold debug build is slow to start).
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a child may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

pub async fn run(args: DevArgs, output: OutputFormat) -> anyhow::Result<u8> {
    // Everything that can fail without starting anything is checked first.
    let spec = resolve_spec(args.file.as_deref())?;
    let definitions = args.register.iter().map(load_spec_file).collect::<Result<Vec<_>, _>>()?;
    let binaries = Binaries::locate(args.bin_dir.as_deref())?;
    let dir = tempfile::Builder::new().prefix("weft-dev-").tempdir().context("creating a temporary directory")?;
    eprintln!("logs and data in {}", dir.path().display());

    let mut procs = Procs::default();
    let mut started = None;
    // The throwaway PostgreSQL of `--store postgres`: stopped after the coordinators.
    let mut postgres = None;
    let result = tokio::select! {
        result = session(&mut procs, &mut postgres, &binaries, dir.path(), &args, (&definitions, &spec), output, &mut started) => result,
        () = interrupted() => {
            eprintln!("\ninterrupted");
            // Cancel the run first: draining workers would otherwise finish its tasks
            // before they exit, however long those take.
            if let Some((client, run_id)) = &started {
                let cancel = client.cancel_run(*run_id, "weftctl dev was interrupted");
                if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(2), cancel).await {
                    eprintln!("could not cancel run {run_id}: {e}");
                }
            }
            Ok((exit::INTERRUPTED, String::new()))
        }
    };
    let result = match result {
        Ok((code, address)) if args.stay && code != exit::INTERRUPTED => {
            eprintln!(
                "the cluster stays up at {address}: try `weftctl --coordinator {address} workers`; Ctrl-C to stop"
            );
            interrupted().await;
            Ok(code)
        }
        other => other.map(|(code, _)| code),
    };
    eprintln!("stopping the cluster");
    tokio::select! {
        () = procs.shutdown(STOP_GRACE) => {}
        // A second Ctrl-C does not wait for the workers to drain: the guard kills them.
        () = interrupted() => eprintln!("killing the cluster"),
    }
    drop(procs);
    drop(postgres);
    if args.keep || result.is_err() {
        // On failure the logs are the evidence: keep them whatever --keep says.
        let kept = dir.keep();
        eprintln!("kept {}", kept.display());
    }
    result
}

/// Starts the cluster, runs the spec on it and follows the run. Returns the exit code and
/// the coordinators' addresses (comma-separated).
#[allow(clippy::too_many_arguments)]
async fn session(
    procs: &mut Procs,
    postgres: &mut Option<weft_procs::postgres::PgServer>,
    binaries: &Binaries,
    dir: &Path,
    args: &DevArgs,
    (definitions, spec): (&[ProcessSpec], &ProcessSpec),
    output: OutputFormat,
    started: &mut Option<(Client, RunId)>,
) -> anyhow::Result<(u8, String)> {
    let (store_args, coordinators) = match args.store {
        // The store lives in the cluster's temporary directory, with the logs.
        DevStore::Sqlite => (vec!["--data-dir".to_string(), dir.join("data").to_string_lossy().into_owned()], 1),
        DevStore::Postgres => {
            eprintln!("starting a throwaway PostgreSQL server");
            let server = tokio::task::spawn_blocking(weft_procs::postgres::PgServer::start)
                .await?
                .context("starting PostgreSQL for --store postgres")?;
            let url = server.url("postgres");
            eprintln!("PostgreSQL (pid {}) at {url}", server.pid().unwrap_or_default());
            *postgres = Some(server);
            (vec!["--store".to_string(), url], 2)
        }
    };
    let mut addresses = Vec::new();
    let mut pids = Vec::new();
    for i in 1..=coordinators {
        let name = if i == 1 { "coordinator".to_string() } else { format!("coordinator-{i}") };
        let mut coordinator_args: Vec<String> =
            ["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"].map(String::from).to_vec();
        coordinator_args.extend(store_args.iter().cloned());
        let ready: CoordinatorReady = procs
            .start(&crate::procs::spec(&name, &binaries.coordinator, &coordinator_args, dir, READY_TIMEOUT))
            .await?;
        let metrics = ready
            .metrics
            .as_deref()
            .map(|m| format!(", dashboard http://{m}/ (metrics at /metrics)"))
            .unwrap_or_default();
        eprintln!("{COORDINATOR} {name} listening on {} (pid {}){metrics}", ready.grpc, ready.pid);
        addresses.push(ready.grpc);
        pids.push(ready.pid);
    }
    // Coordinators sharing a store elect a leader first; workers are given every address.
    let client = Client::connect_leader(&addresses, &Default::default(), READY_TIMEOUT).await?;
    if coordinators > 1 {
        let leader = addresses.iter().position(|a| client.address().ends_with(a.as_str())).unwrap_or(0);
        eprintln!(
            "{} leads; the others stand by. `kill -9 {}` and a standby takes over within the leader lease (2 s): \
             `weftctl --coordinator {} runs` finds it",
            addresses[leader],
            pids[leader],
            addresses.join(",")
        );
    }
    let coordinator_urls = addresses.iter().map(|a| format!("http://{a}")).collect::<Vec<_>>().join(",");
    for i in 1..=args.workers {
        let name = format!("worker-{i}");
        let mut worker_args =
            vec!["--coordinator".to_string(), coordinator_urls.clone(), "--name".to_string(), name.clone()];
        worker_args.push("--allow-shell".to_string());
        if let Some(slots) = args.slots {
            worker_args.extend(["--slots".to_string(), slots.to_string()]);
        }
        let ready: WorkerReady =
            procs.start(&crate::procs::spec(&name, &binaries.worker, &worker_args, dir, READY_TIMEOUT)).await?;
        eprintln!("{WORKER} {} ready ({})", ready.name, ready.worker_id);
    }
    for (name, log) in procs.logs() {
        eprintln!("  {name} log: {}", log.display());
    }

    for d in definitions {
        let registered = client.register_definition(d).await?;
        eprintln!("registered definition `{}` v{}", registered.name, registered.version);
    }
    let options = StartOptions { idempotency_key: None, input: args.input.clone() };
    let run_id = client.start_run(RunSource::Inline(spec), options).await?.run_id;
    eprintln!("submitted `{}`: run {run_id}", spec.name);
    *started = Some((client.clone(), run_id));
    let code = follow_run(&client, run_id, output).await?;
    Ok((code, addresses.join(",")))
}

/// The given file; else the default example in the current directory; else its built-in copy.
fn resolve_spec(file: Option<&Path>) -> Result<ProcessSpec, weft_client::Error> {
    if let Some(file) = file {
        return load_spec_file(file);
    }
    let default = PathBuf::from(DEFAULT_FILE);
    if default.is_file() {
        return load_spec_file(default);
    }
    eprintln!("{DEFAULT_FILE} is not here; running the built-in copy of it");
    parse_spec(BUILT_IN_EXAMPLE, SpecFormat::Yaml, DEFAULT_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_example_parses() {
        let spec = parse_spec(BUILT_IN_EXAMPLE, SpecFormat::Yaml, DEFAULT_FILE).unwrap();
        assert_eq!(spec.name, "order-fulfilment");
    }
}
