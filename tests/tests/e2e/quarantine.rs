//! Nothing stored keeps the coordinator from starting: records that cannot be restored
//! (written by an older build, or damaged) are logged, moved into the store's quarantine,
//! skipped, and listed by `weftctl admin quarantine`; the rest is served as before.
use crate::support::*;
use rusqlite::{Connection, params};
use std::time::Duration;
use weft_client::{RunId, RunSource, StartOptions};
use weft_e2e::{Cluster, WorkerSpec, binary};

const GOOD: &str = "
name: good
workflows:
  - name: w
    steps:
      - { name: a, kind: noop, params: { result: 1 } }
      - { name: b, kind: noop, params: { result: 2 } }
";

/// A spec nested deeper than serde_json reads back (an older weft accepted such params).
fn deep_spec(good_spec: &str) -> String {
    let mut spec: serde_json::Value = serde_json::from_str(good_spec).expect("stored spec is JSON");
    spec["name"] = "deep".into();
    let nested = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let text = spec.to_string();
    // Splice the nesting in as text: a serde_json::Value that deep cannot be built by parsing.
    let params = r#""params":{"result":1}"#;
    assert!(text.contains(params), "{text}");
    text.replacen(params, &format!(r#""params":{{"result":{nested}}}"#), 1)
}

/// Writes five records no running coordinator would accept into the stopped coordinator's
/// store: two a restore refuses, three the SQLite codec cannot decode.
fn break_the_store(db: &std::path::Path, good_run: RunId) -> RunId {
    let conn = Connection::open(db).expect("open weft.db");
    let good_spec: String =
        conn.query_row("SELECT spec FROM definitions WHERE name = 'good'", [], |r| r.get(0)).expect("good definition");
    conn.execute(
        "INSERT INTO definitions (name, version, spec, created_at) VALUES ('deep', 1, ?1, 1)",
        [deep_spec(&good_spec)],
    )
    .unwrap();
    let bad_run = RunId::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0bad);
    conn.execute(
        "INSERT INTO runs (id, spec, input, created_at, status, reason) VALUES (?1, '{not json', 'null', 1, 1, '')",
        [bad_run.0.as_bytes().to_vec()],
    )
    .unwrap();
    let id = good_run.0.as_bytes().to_vec();
    conn.execute("INSERT INTO tasks (run, idx, state, attempt) VALUES (?1, 99, 2, 0)", [&id]).unwrap();
    conn.execute(
        "INSERT INTO events (run, seq, at, kind, workflow, task, attempt, detail) VALUES (?1, 999, 1, 250, 'w', 'a', 1, '')",
        [&id],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO runs (id, spec, input, created_at, status, reason) VALUES (?1, '{}', 'null', 1, 1, '')",
        params![vec![1u8, 2, 3]],
    )
    .unwrap();
    bad_run
}

/// Waits until the coordinator's log file has a line with every needle.
async fn logged(log: &std::path::Path, needles: &[&str]) -> String {
    let found = tokio::time::timeout(weft_e2e::WAIT, async {
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
                return line.to_string();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no line with {needles:?} in {}", log.display()))
}

async fn admin_quarantine(grpc: &str, json: bool) -> String {
    let mut cmd = tokio::process::Command::new(binary("weftctl"));
    cmd.args(["--coordinator", grpc]);
    if json {
        cmd.args(["-o", "json"]);
    }
    let out = cmd.args(["admin", "quarantine"]).output().await.expect("weftctl runs");
    assert!(out.status.success(), "weftctl admin quarantine: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_that_cannot_be_restored_are_quarantined_and_the_coordinator_serves_the_rest() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.add_worker(WorkerSpec::default()).await;
    let client = cluster.client().await;
    client.register_definition(&spec(GOOD)).await.expect("register");
    let started = client
        .start_run(RunSource::Definition { name: "good", version: None }, StartOptions::default())
        .await
        .expect("start");
    let good_run = started.run_id;
    assert_succeeded(&wait(&client, good_run).await);
    let history = client.run_history_all(good_run, 0).await.unwrap().len();

    cluster.stop_coordinator().await;
    let bad_run = break_the_store(&cluster.data_dir().join("weft.db"), good_run);
    cluster.start_coordinator_again(&[]).await;
    let log = cluster.coordinator.log.clone();

    // Reported, each with its reason.
    logged(&log, &["stored record in quarantine", "deep@1", "recursion limit"]).await;
    logged(&log, &["stored record in quarantine", &bad_run.to_string(), "spec:"]).await;
    logged(&log, &["stored record in quarantine", &format!("{good_run}#99"), "past the run's plan"]).await;
    logged(&log, &["stored record in quarantine", &format!("{good_run}/999"), "kind: unknown code 250"]).await;
    logged(&log, &["stored record in quarantine", "x'010203'", "id:"]).await;
    logged(&log, &["the store holds records that cannot be restored", "weftctl admin quarantine"]).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().filter(|l| l.contains("stored record in quarantine")).count(), 5, "{text}");

    // The rest is served: the good run with its whole history, the good definition runs.
    let client = cluster.client().await;
    let run = client.get_run(good_run).await.expect("the good run is there");
    assert_succeeded(&run);
    assert_eq!(client.run_history_all(good_run, 0).await.unwrap().len(), history);
    assert!(client.get_run(bad_run).await.is_err(), "the quarantined run is not served");
    let again = client
        .start_run(RunSource::Definition { name: "good", version: None }, StartOptions::default())
        .await
        .expect("start after restart");
    assert_succeeded(&wait(&client, again.run_id).await);
    // A definition under the quarantined one's name is new, and does not touch it.
    let deep = client.register_definition(&spec(&GOOD.replace("name: good", "name: deep"))).await.unwrap();
    assert_eq!(deep.version, 1);

    // Listed by the admin command, with each record as stored.
    let listed: serde_json::Value = serde_json::from_str(&admin_quarantine(&cluster.grpc, true).await).unwrap();
    let keys: Vec<(&str, &str)> = listed
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|q| (q["table"].as_str().unwrap(), q["key"].as_str().unwrap()))
        .collect();
    let (bad, task, event) = (bad_run.to_string(), format!("{good_run}#99"), format!("{good_run}/999"));
    // Those the codec cannot decode are set aside while loading, before those a restore
    // refuses (definitions, then runs by id, each run with its tasks).
    assert_eq!(
        keys,
        vec![
            ("runs", "x'010203'"),
            ("events", event.as_str()),
            ("definitions", "deep@1"),
            ("runs", bad.as_str()),
            ("tasks", task.as_str()),
        ]
    );
    assert_eq!(listed[1]["record"]["kind"], 250);
    assert_eq!(listed[2]["record"]["name"], "deep");
    assert!(listed[2]["record"]["spec"].as_str().unwrap().contains("[[[["));
    assert_eq!(listed[3]["record"]["spec"], "{not json");
    assert!(listed[4]["reason"].as_str().unwrap().contains("task index 99 is past the run's plan of 2 tasks"));
    let table = admin_quarantine(&cluster.grpc, false).await;
    assert!(table.starts_with("TABLE"), "{table}");
    assert!(table.contains("deep@1") && table.contains("past the run's plan"), "{table}");

    // Kept across restarts, once each; nothing else is lost.
    cluster.stop_coordinator().await;
    cluster.start_coordinator_again(&[]).await;
    let client = cluster.client().await;
    assert_eq!(client.list_quarantined().await.unwrap().len(), 5);
    assert_succeeded(&client.get_run(good_run).await.unwrap());
    assert_eq!(client.get_definition("deep", None).await.unwrap().version, 1);
}
