use super::*;
use pb::EventKind as K;

fn snapshot() -> pb::Run {
    let task = |workflow: &str, name: &str| pb::TaskRun {
        workflow: workflow.into(),
        name: name.into(),
        state: pb::TaskState::Pending as i32,
        ..Default::default()
    };
    pb::Run {
        status: pb::RunStatus::Running as i32,
        workflows: vec![
            pb::WorkflowRun {
                name: "shipping".into(),
                tasks: vec![task("shipping", "reserve"), task("shipping", "pack"), task("shipping", "ship")],
                ..Default::default()
            },
            pb::WorkflowRun {
                name: "billing".into(),
                tasks: vec![task("billing", "invoice"), task("billing", "charge")],
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

fn ev(seq: u64, kind: K, workflow: &str, task: &str) -> pb::RunEvent {
    pb::RunEvent {
        seq,
        kind: kind as i32,
        workflow: workflow.into(),
        task: task.into(),
        attempt: 1,
        ..Default::default()
    }
}

#[test]
fn totals_come_from_the_snapshot() {
    let p = RunProgress::skeleton(&snapshot());
    assert_eq!(p.workflows.len(), 2);
    assert_eq!((p.workflows[0].total(), p.workflows[0].done()), (3, 0));
    assert_eq!(p.workflows[1].line(), "billing: 0/2 done");
    assert_eq!(p.outcome, None);
}

#[test]
fn events_move_tasks_and_count_done_once() {
    let mut p = RunProgress::skeleton(&snapshot());
    let events = [
        ev(1, K::RunStarted, "", ""),
        ev(2, K::TaskReady, "shipping", "reserve"),
        ev(3, K::TaskAssigned, "shipping", "reserve"),
        ev(4, K::TaskRunning, "shipping", "reserve"),
        ev(5, K::TaskReady, "billing", "invoice"),
        ev(6, K::TaskRunning, "billing", "invoice"),
    ];
    let changes: Vec<Change> = events.iter().map(|e| p.apply(e)).collect();
    assert_eq!(changes[0], Change::None);
    assert_eq!(changes[1], Change::Task { index: 0 });
    assert_eq!(changes[5], Change::Task { index: 1 });
    assert_eq!(p.workflows[0].active(), ["reserve"]);
    assert_eq!(p.workflows[0].line(), "shipping: 0/3 done; running reserve");

    p.apply(&ev(7, K::TaskSucceeded, "shipping", "reserve"));
    // A replayed event (a resubscribed watch) must not count the task twice.
    p.apply(&ev(7, K::TaskSucceeded, "shipping", "reserve"));
    assert_eq!(p.workflows[0].done(), 1);
    assert!(p.workflows[0].active().is_empty());
    assert_eq!(p.workflows[0].line(), "shipping: 1/3 done");
}

#[test]
fn retry_returns_a_task_to_waiting_and_failure_is_counted() {
    let mut p = RunProgress::skeleton(&snapshot());
    p.apply(&ev(1, K::TaskRunning, "billing", "charge"));
    p.apply(&ev(2, K::TaskRetrying, "billing", "charge"));
    assert!(p.workflows[1].active().is_empty());
    assert_eq!(p.workflows[1].done(), 0);
    p.apply(&ev(3, K::TaskRunning, "billing", "charge"));
    p.apply(&ev(4, K::TaskFailed, "billing", "charge"));
    p.apply(&ev(5, K::TaskCancelled, "billing", "invoice"));
    assert_eq!(p.workflows[1].done(), 2);
    assert_eq!(p.workflows[1].failed(), 1);
    assert_eq!(p.workflows[1].line(), "billing: 2/2 done; 1 failed; 1 cancelled");
    assert_eq!(p.apply(&ev(6, K::RunFailed, "", "")), Change::Finished(RunStatus::Failed));
    assert_eq!(p.outcome, Some(RunStatus::Failed));
}

#[test]
fn many_running_tasks_are_summarised() {
    let mut p = RunProgress::default();
    for (i, name) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        p.apply(&ev(i as u64 + 1, K::TaskRunning, "fan", name));
    }
    assert_eq!(p.workflows[0].message(), "running a, b, c +2 more");
    // Tasks the snapshot did not have are added as they appear.
    assert_eq!(p.workflows[0].total(), 5);
}

#[test]
fn a_skeleton_has_the_tasks_but_not_their_states() {
    let mut run = snapshot();
    run.status = pb::RunStatus::Succeeded as i32;
    run.workflows[0].tasks[0].state = pb::TaskState::Succeeded as i32;
    let p = RunProgress::skeleton(&run);
    assert_eq!((p.workflows[0].total(), p.workflows[0].done()), (3, 0));
    assert_eq!(p.outcome, None);
}

#[test]
fn notable_events_are_failures_retries_cancels_and_estimate_moves() {
    let mut retry = ev(1, K::TaskRetrying, "billing", "charge");
    retry.detail = "exit code 1".into();
    assert_eq!(notable(&retry).unwrap(), "billing/charge will retry: exit code 1");
    retry.detail.clear();
    assert_eq!(notable(&retry).unwrap(), "billing/charge attempt 1 failed, will retry");
    assert_eq!(notable(&ev(2, K::TaskRunning, "billing", "charge")), None);
    assert_eq!(notable(&ev(3, K::RunCancelled, "", "")).unwrap(), "run cancelled");
    let mut moved = ev(4, K::RunEstimate, "", "");
    moved.detail = "predicted to take 2.10s, 1.80s longer than said before (0.30s)".into();
    assert_eq!(
        notable(&moved).unwrap(),
        "estimate moved: predicted to take 2.10s, 1.80s longer than said before (0.30s)"
    );
}

#[test]
fn plain_lines_are_printed_only_on_change() {
    let mut p = RunProgress::skeleton(&snapshot());
    let mut view = ProgressView::new(&p, false);
    p.apply(&ev(1, K::TaskReady, "shipping", "reserve"));
    view.update(&p, 0);
    let ProgressView::Lines { last } = &view else { panic!("expected plain lines") };
    assert_eq!(last[0], "shipping: 0/3 done");
    p.apply(&ev(2, K::TaskRunning, "shipping", "reserve"));
    view.update(&p, 0);
    let ProgressView::Lines { last } = &view else { panic!("expected plain lines") };
    assert_eq!(last[0], "shipping: 0/3 done; running reserve");
}
