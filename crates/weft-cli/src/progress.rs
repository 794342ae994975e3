//! Live progress of one run, fed from `WatchRun`.
//!
//! [`RunProgress`] is the pure part: per-workflow task states, laid out from a `GetRun`
//! snapshot and moved on by each event. Events set a task's state rather than count, so
//! an event seen twice (a watch resumed after a break) changes nothing.
//! [`ProgressView`] draws it: one indicatif bar per workflow on a terminal, or plain lines
//! (printed only when a workflow's line changes) when stderr is a pipe or a file, where
//! bars would be invisible or garbage.
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::time::Duration;
use weft_client::pb;
use weft_model::{RunStatus, TaskState};

/// Names of running tasks shown beside a bar before "+N more".
const SHOWN_ACTIVE: usize = 3;

#[derive(Debug)]
pub struct WorkflowProgress {
    pub name: String,
    tasks: Vec<(String, TaskState)>,
    index: HashMap<String, usize>,
}

impl WorkflowProgress {
    fn new(name: String) -> Self {
        WorkflowProgress { name, tasks: Vec::new(), index: HashMap::new() }
    }

    fn set(&mut self, task: &str, state: TaskState) {
        match self.index.get(task) {
            Some(&i) => self.tasks[i].1 = state,
            None => {
                self.index.insert(task.to_string(), self.tasks.len());
                self.tasks.push((task.to_string(), state));
            }
        }
    }

    pub fn total(&self) -> usize {
        self.tasks.len()
    }

    fn count(&self, state: TaskState) -> usize {
        self.tasks.iter().filter(|(_, s)| *s == state).count()
    }

    /// Tasks in a final state.
    pub fn done(&self) -> usize {
        self.tasks.iter().filter(|(_, s)| s.is_final()).count()
    }

    pub fn failed(&self) -> usize {
        self.count(TaskState::Failed)
    }

    /// Tasks held by a worker (assigned or running), in spec order.
    pub fn active(&self) -> Vec<&str> {
        self.tasks.iter().filter(|(_, s)| s.is_active()).map(|(n, _)| n.as_str()).collect()
    }

    /// `running pack, label` / `2 failed` / `` — what goes beside the bar.
    pub fn message(&self) -> String {
        let mut parts = Vec::new();
        let active = self.active();
        if !active.is_empty() {
            let mut names = active.iter().take(SHOWN_ACTIVE).copied().collect::<Vec<_>>().join(", ");
            if active.len() > SHOWN_ACTIVE {
                names.push_str(&format!(" +{} more", active.len() - SHOWN_ACTIVE));
            }
            parts.push(format!("running {names}"));
        }
        let failed = self.failed();
        if failed > 0 {
            parts.push(format!("{failed} failed"));
        }
        let cancelled = self.count(TaskState::Cancelled);
        if cancelled > 0 {
            parts.push(format!("{cancelled} cancelled"));
        }
        parts.join("; ")
    }

    /// The plain-text form: `shipping: 2/4 done; running pack`.
    pub fn line(&self) -> String {
        let message = self.message();
        let sep = if message.is_empty() { "" } else { "; " };
        format!("{}: {}/{} done{sep}{message}", self.name, self.done(), self.total())
    }
}

/// What an event did, for the view to react to.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// A task of workflow `index` changed state.
    Task { index: usize },
    /// The run reached its final status.
    Finished(RunStatus),
    /// Nothing visible (run started, unknown kinds).
    None,
}

#[derive(Debug, Default)]
pub struct RunProgress {
    pub workflows: Vec<WorkflowProgress>,
    index: HashMap<String, usize>,
    pub outcome: Option<RunStatus>,
}

impl RunProgress {
    /// The workflows and tasks of `run` with every task pending and no outcome: the start
    /// for replaying a run's events from sequence 1. Starting from the snapshot's states
    /// instead would show tasks going backwards while the replay catches up.
    pub fn skeleton(run: &pb::Run) -> Self {
        let mut progress = RunProgress::default();
        for w in &run.workflows {
            let index = progress.workflow(&w.name);
            for t in &w.tasks {
                progress.workflows[index].set(&t.name, TaskState::Pending);
            }
        }
        progress
    }

    fn workflow(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.index.insert(name.to_string(), self.workflows.len());
        self.workflows.push(WorkflowProgress::new(name.to_string()));
        self.workflows.len() - 1
    }

    /// Moves the state on by one event.
    pub fn apply(&mut self, event: &pb::RunEvent) -> Change {
        use pb::EventKind as K;
        let Ok(kind) = K::try_from(event.kind) else { return Change::None };
        let task_state = match kind {
            K::TaskReady => TaskState::Ready,
            K::TaskAssigned => TaskState::Assigned,
            K::TaskRunning => TaskState::Running,
            K::TaskSucceeded => TaskState::Succeeded,
            K::TaskFailed => TaskState::Failed,
            // The attempt is over and the task waits for its next one.
            K::TaskRetrying => TaskState::Ready,
            K::TaskCancelled => TaskState::Cancelled,
            K::RunSucceeded | K::RunFailed | K::RunCancelled => {
                let status = match kind {
                    K::RunSucceeded => RunStatus::Succeeded,
                    K::RunFailed => RunStatus::Failed,
                    _ => RunStatus::Cancelled,
                };
                self.outcome = Some(status);
                return Change::Finished(status);
            }
            K::RunStarted | K::RunCompensating | K::RunEstimate | K::TaskExpanded | K::Unspecified => {
                return Change::None;
            }
        };
        if event.task.is_empty() {
            return Change::None;
        }
        let index = self.workflow(&event.workflow);
        self.workflows[index].set(&event.task, task_state);
        Change::Task { index }
    }
}

/// A line worth printing on its own for an event: failures, retries and cancellations,
/// which a bar alone would hide.
pub fn notable(event: &pb::RunEvent) -> Option<String> {
    use pb::EventKind as K;
    let kind = K::try_from(event.kind).ok()?;
    let task = format!("{}/{}", event.workflow, event.task);
    let detail = if event.detail.is_empty() { String::new() } else { format!(": {}", event.detail.replace('\n', " ")) };
    match kind {
        // The coordinator's detail already tells which attempt failed and when the next is.
        K::TaskRetrying if !event.detail.is_empty() => Some(format!("{task} will retry{detail}")),
        K::TaskRetrying => Some(format!("{task} attempt {} failed, will retry", event.attempt)),
        K::TaskFailed => Some(format!("{task} failed on attempt {}{detail}", event.attempt)),
        K::TaskCancelled => Some(format!("{task} cancelled{detail}")),
        K::RunFailed => Some(format!("run failed{detail}")),
        K::RunCancelled => Some(format!("run cancelled{detail}")),
        K::RunEstimate => Some(format!("estimate moved{detail}")),
        _ => None,
    }
}

/// Draws a [`RunProgress`] on stderr.
pub enum ProgressView {
    Bars { multi: MultiProgress, bars: Vec<ProgressBar> },
    Lines { last: Vec<String> },
}

impl ProgressView {
    /// Bars when `terminal`, else plain lines.
    pub fn new(progress: &RunProgress, terminal: bool) -> Self {
        if !terminal {
            let mut view = ProgressView::Lines { last: Vec::new() };
            for i in 0..progress.workflows.len() {
                view.update(progress, i);
            }
            return view;
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let width = progress.workflows.iter().map(|w| w.name.len()).max().unwrap_or(0);
        let template = format!("{{spinner}} {{prefix:<{width}}} [{{bar:30}}] {{pos}}/{{len}} {{msg}}");
        let style = ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bars = progress
            .workflows
            .iter()
            .map(|w| {
                let bar = multi.add(ProgressBar::new(w.total() as u64));
                bar.set_style(style.clone());
                bar.set_prefix(w.name.clone());
                bar.set_position(w.done() as u64);
                bar.set_message(w.message());
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            })
            .collect();
        ProgressView::Bars { multi, bars }
    }

    /// Redraws workflow `index` after a change.
    pub fn update(&mut self, progress: &RunProgress, index: usize) {
        let Some(w) = progress.workflows.get(index) else { return };
        match self {
            ProgressView::Bars { bars, .. } => {
                // A workflow the snapshot did not have has no bar; the summary covers it.
                if let Some(bar) = bars.get(index) {
                    bar.set_length(w.total() as u64);
                    bar.set_position(w.done() as u64);
                    bar.set_message(w.message());
                }
            }
            ProgressView::Lines { last } => {
                if last.len() <= index {
                    last.resize(index + 1, String::new());
                }
                let line = w.line();
                if last[index] != line {
                    eprintln!("{line}");
                    last[index] = line;
                }
            }
        }
    }

    /// Prints a line above the bars (or in the stream of lines).
    pub fn note(&self, text: &str) {
        match self {
            ProgressView::Bars { multi, .. } => {
                let _ = multi.println(text);
            }
            ProgressView::Lines { .. } => eprintln!("{text}"),
        }
    }

    /// Stops the bars, leaving their last state on screen, and ends their line so what is
    /// printed next starts on its own.
    pub fn finish(self, progress: &RunProgress) {
        if let ProgressView::Bars { multi, bars } = self {
            for (bar, w) in bars.iter().zip(&progress.workflows) {
                let status = if w.failed() > 0 {
                    "failed"
                } else if w.done() == w.total() {
                    "done"
                } else {
                    "stopped"
                };
                bar.set_position(w.done() as u64);
                bar.finish_with_message(format!("{status} {}", w.message()).trim_end().to_string());
            }
            drop(bars);
            drop(multi);
            // indicatif leaves the cursor at the end of the last bar.
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests;
