//! Routing by kind apart from routing by queue, and cancelling a running `shell` task down
//! to the processes it started.
use crate::support::*;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use weft_client::{Client, ProcessSpec, RunId, RunSource, SpecFormat, StartOptions, pb};
use weft_e2e::{Cluster, WAIT, WorkerSpec};

async fn start(client: &Client, spec: &ProcessSpec) -> RunId {
    client.start_run(RunSource::Inline(spec), StartOptions::default()).await.expect("start run").run_id
}

/// The one task of a one-task run.
fn only_task(run: &pb::Run) -> pb::TaskRun {
    let all: Vec<pb::TaskRun> = tasks(run).into_values().collect();
    assert_eq!(all.len(), 1, "{run:?}");
    all.into_iter().next().unwrap()
}

/// A run's events from the first to the final one.
async fn events_to_the_end(client: &Client, run_id: RunId) -> Vec<pb::RunEvent> {
    let mut watch = client.watch_run(run_id, 0).await.expect("watch run");
    let mut events = Vec::new();
    while let Some(event) = tokio::time::timeout(WAIT, watch.next()).await.expect("the run progresses in time") {
        events.push(event.expect("run event"));
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_waits_for_its_kind_while_a_worker_of_its_queue_serving_other_kinds_runs_other_work() {
    let mut cluster = Cluster::start(&[]).await;
    let noop = cluster.add_worker(WorkerSpec { slots: 1, queues: "default", kinds: Some("noop"), extra: &[] }).await;
    let noop = cluster.worker_id(noop);
    let client = cluster.client().await;

    // `sleep` is built in, so the run is accepted while no worker serves it.
    let nap =
        start(&client, &spec("name: nap\nsteps:\n  - { name: nap, kind: sleep, params: { duration: 10ms } }\n")).await;
    let nap_events = tokio::spawn({
        let client = client.clone();
        async move { events_to_the_end(&client, nap).await }
    });

    // Work of another kind on the same queue, started after the nap, runs to its end on
    // the noop worker: proof that the dispatcher passed over the waiting nap with a free
    // slot of its queue at hand, more than once.
    let plain =
        run_to_end(&client, &spec("name: plain\nsteps:\n  - { name: a, kind: noop }\n  - { name: b, kind: noop }\n"))
            .await;
    assert_succeeded(&plain);
    assert!(tasks(&plain).values().all(|t| t.worker_id == noop), "{plain:?}");

    let run = client.get_run(nap).await.unwrap();
    assert_eq!(run.status, pb::RunStatus::Running as i32, "{run:?}");
    let task = only_task(&run);
    assert_eq!(task.state, pb::TaskState::Ready as i32, "{task:?}");
    assert_eq!((task.attempt, task.worker_id.as_str()), (0, ""), "never assigned: {task:?}");
    let status = client.cluster_status().await.unwrap();
    let default = status.queues.iter().find(|q| q.queue == "default").expect("the default queue");
    assert_eq!(default.depth, 1, "{default:?}");
    assert_eq!(default.free_slots, 1, "the noop worker is idle beside it: {default:?}");
    let idle = status.workers.iter().find(|w| w.worker_id == noop).expect("the noop worker");
    assert_eq!((idle.running, idle.kinds.as_slice()), (0, &["noop".to_string()][..]), "{idle:?}");

    // A worker serving `sleep` joins: the nap runs there, and only there.
    let sleeper =
        cluster.add_worker(WorkerSpec { slots: 1, queues: "default", kinds: Some("sleep"), extra: &[] }).await;
    let sleeper = cluster.worker_id(sleeper);
    let events = tokio::time::timeout(WAIT, nap_events).await.expect("the nap ends in time").unwrap();
    assert_eq!(events.last().map(|e| e.kind), Some(pb::EventKind::RunSucceeded as i32), "{events:?}");
    let assigned: Vec<&pb::RunEvent> = events.iter().filter(|e| e.kind == pb::EventKind::TaskAssigned as i32).collect();
    assert_eq!(assigned.len(), 1, "one assignment, after the sleep worker joined: {events:?}");
    assert_eq!((assigned[0].worker_id.as_str(), assigned[0].attempt), (sleeper.as_str(), 1), "{events:?}");
    let run = client.get_run(nap).await.unwrap();
    assert_succeeded(&run);
    assert_eq!(only_task(&run).worker_id, sleeper);
    let status = client.cluster_status().await.unwrap();
    assert!(status.queues.iter().all(|q| q.depth == 0), "{:?}", status.queues);
}

/// Whether `pid` is a process that has not exited: kill(pid, 0) finds it and /proc does
/// not show it a zombie (exited, not yet reaped: an orphan waits for whatever reaps here).
fn alive(pid: i32) -> bool {
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Err(nix::errno::Errno::ESRCH) => false,
        _ => match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
            Err(_) => false,
        },
    }
}

/// SIGKILLs the processes it holds when dropped armed, so a failing test leaves nothing
/// behind (the harness kills the worker, not the process group of its task).
struct Survivors(Vec<i32>);

impl Survivors {
    fn disarm(mut self) {
        self.0.clear();
    }
}

impl Drop for Survivors {
    fn drop(&mut self) {
        for pid in self.0.iter().copied().filter(|pid| alive(*pid)) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_run_kills_the_processes_of_its_running_shell_task() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.add_worker(WorkerSpec { slots: 1, extra: &["--allow-shell"], ..Default::default() }).await;
    let client = cluster.client().await;

    // The task reports its pids through a FIFO in the test's directory: reading it awaits
    // the writes, no polling. Opened read-write, it never reads EOF before the task writes.
    let fifo = cluster.dir.path().join("pids");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", fifo.display());
    let pipe = tokio::net::unix::pipe::OpenOptions::new().read_write(true).open_receiver(&fifo).expect("open the FIFO");
    let mut lines = BufReader::new(pipe).lines();
    let script = format!("sleep 1000 & echo child $! > '{f}'; echo shell $$ > '{f}'; wait", f = fifo.display());
    let hold = serde_json::json!({
        "name": "hold",
        "steps": [{ "name": "hold", "kind": "shell", "retry": { "max_attempts": 1 }, "params": { "argv": ["sh", "-c", script] } }],
    });
    let hold = weft_client::parse_spec(&hold.to_string(), SpecFormat::Json, "hold.json").expect("spec parses");
    let run_id = start(&client, &hold).await;

    let pids = tokio::time::timeout(WAIT, async {
        let mut pids = Vec::new();
        for expected in ["child", "shell"] {
            let line = lines.next_line().await.expect("read the FIFO").expect("the FIFO stays open");
            let (who, pid) = line.split_once(' ').unwrap_or_else(|| panic!("unexpected line `{line}`"));
            assert_eq!(who, expected, "{line}");
            pids.push(pid.trim().parse::<i32>().unwrap_or_else(|e| panic!("`{line}`: {e}")));
        }
        pids
    })
    .await
    .expect("the shell task reports its pids in time");
    let survivors = Survivors(pids.clone());
    for pid in &pids {
        assert!(alive(*pid), "{pid} runs before the cancel");
    }

    let cancelled = client.cancel_run(run_id, "e2e: stop the shell task").await.unwrap();
    assert_eq!(cancelled.status, pb::RunStatus::Cancelled as i32, "{cancelled:?}");
    // A non-child's death sends no event to await: poll /proc, within WAIT. The worker
    // sends SIGTERM to the task's process group, SIGKILL 2 s later.
    for (who, pid) in ["child", "shell"].into_iter().zip(pids) {
        let gone = tokio::time::timeout(WAIT, async {
            while alive(pid) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(gone.is_ok(), "the task's {who} (pid {pid}) is still alive {WAIT:?} after the run was cancelled");
    }
    survivors.disarm();
}
