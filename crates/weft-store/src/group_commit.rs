//! Group commit: one thread owns the store; batches submitted while a commit is in flight
//! (or within the configured window) are merged and committed together, so durability
//! costs one disk sync per group rather than one per change. Callbacks run in submission
//! order once their group is durable.
//!
//! Fail-stop: once a commit fails, every later group fails too without touching the store.
//! A later commit that happened to succeed would make changes durable after ones that were
//! lost, and an answer released for it would describe a state the store never had.
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::{Batch, Store};

/// Tuning of group commit.
#[derive(Clone, Copy, Debug)]
pub struct GroupCommitConfig {
    /// After the first batch of a group arrives, wait this long for more. Zero takes only
    /// what queued up during the previous commit (lowest latency; still batches under load).
    pub window: Duration,
    /// Stop adding to a group once it holds this many records.
    pub max_records: usize,
}

impl Default for GroupCommitConfig {
    fn default() -> Self {
        GroupCommitConfig { window: Duration::ZERO, max_records: 50_000 }
    }
}

/// Called once the batch is durable (Ok) or failed to commit (Err with the reason).
pub type Done = Box<dyn FnOnce(Result<(), String>) + Send>;

/// Called with the outcome of a backup.
pub type BackupDone = Box<dyn FnOnce(Result<crate::BackupInfo, String>) + Send>;

enum Job {
    Commit {
        // Boxed: a change set is a few hundred bytes of vectors, a backup a path.
        batch: Box<Batch>,
        done: Done,
    },
    /// Taken between groups: the copy holds every batch submitted before it.
    Backup { dest: std::path::PathBuf, done: BackupDone },
}

/// Statistics of one commit, for metrics.
#[derive(Clone, Copy, Debug)]
pub struct CommitStats {
    pub batches: usize,
    pub records: usize,
    pub took: Duration,
}

/// Handle to the commit thread. Dropping it lets the thread finish the queued work and stop.
pub struct GroupCommitter {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<thread::JoinHandle<()>>,
}

fn records(b: &Batch) -> usize {
    b.records()
}

impl GroupCommitter {
    /// Starts the commit thread. `observe` sees every commit's statistics.
    pub fn start(
        mut store: Box<dyn Store>,
        cfg: GroupCommitConfig,
        observe: impl Fn(CommitStats) + Send + 'static,
    ) -> std::io::Result<GroupCommitter> {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = thread::Builder::new().name("weft-store-commit".into()).spawn(move || {
            let mut failed: Option<String> = None;
            // A backup met while a group was being gathered waits for that group's commit.
            let mut held: Option<Job> = None;
            while let Some(first) = held.take().or_else(|| rx.recv().ok()) {
                let (mut group, first_done) = match first {
                    Job::Commit { batch, done } => (*batch, done),
                    Job::Backup { dest, done } => {
                        done(match &failed {
                            Some(reason) => Err(format!("an earlier commit failed: {reason}")),
                            None => store.backup(&dest).map_err(|e| e.to_string()),
                        });
                        continue;
                    }
                };
                let mut dones = vec![first_done];
                let mut batches = 1;
                let deadline = Instant::now() + cfg.window;
                while records(&group) < cfg.max_records {
                    let next = match deadline.checked_duration_since(Instant::now()) {
                        Some(left) if !left.is_zero() => rx.recv_timeout(left).ok(),
                        _ => rx.try_recv().ok(),
                    };
                    match next {
                        Some(Job::Commit { batch, done }) => {
                            group.extend(*batch);
                            dones.push(done);
                            batches += 1;
                        }
                        Some(backup @ Job::Backup { .. }) => {
                            held = Some(backup);
                            break;
                        }
                        None => break,
                    }
                }
                let result = match &failed {
                    Some(reason) => Err(format!("an earlier commit failed: {reason}")),
                    // Nothing to write (answers that only wait for earlier groups): no sync.
                    None if group.is_empty() => Ok(()),
                    None => {
                        let started = Instant::now();
                        let result = store.commit(&group).map_err(|e| e.to_string());
                        observe(CommitStats { batches, records: records(&group), took: started.elapsed() });
                        result
                    }
                };
                if let Err(reason) = &result
                    && failed.is_none()
                {
                    failed = Some(reason.clone());
                }
                for done in dones {
                    done(result.clone());
                }
            }
        })?;
        Ok(GroupCommitter { tx: Some(tx), thread: Some(thread) })
    }

    /// Queues a batch; `done` runs when it is durable.
    pub fn submit(&self, batch: Batch, done: Done) {
        if let Some(tx) = &self.tx
            && let Err(mpsc::SendError(Job::Commit { done, .. })) =
                tx.send(Job::Commit { batch: Box::new(batch), done })
        {
            done(Err("the store's commit thread has stopped".into()));
        }
    }

    /// Queues a backup to `dest`, taken once every batch submitted before it is committed
    /// (commits wait while it is written); `done` gets its outcome.
    pub fn backup(&self, dest: std::path::PathBuf, done: BackupDone) {
        if let Some(tx) = &self.tx
            && let Err(mpsc::SendError(Job::Backup { done, .. })) = tx.send(Job::Backup { dest, done })
        {
            done(Err("the store's commit thread has stopped".into()));
        }
    }
}

impl Drop for GroupCommitter {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryStore, StoredRun};
    use std::sync::{Arc, Mutex};
    use weft_model::{RunId, RunStatus};

    fn batch(n: u128) -> Batch {
        Batch {
            runs: vec![StoredRun {
                id: RunId::from_u128(n),
                spec_json: "{}".into(),
                definition: None,
                idempotency_key: None,
                input_json: "null".into(),
                created_at: 0,
                status: RunStatus::Running,
                reason: String::new(),
                finished_at: None,
            }],
            ..Default::default()
        }
    }

    /// Fails every commit from the `fail_from`-th on (counting from 0), and counts them.
    struct Flaky {
        inner: MemoryStore,
        commits: Arc<Mutex<usize>>,
        fail_from: usize,
    }

    impl Store for Flaky {
        fn info(&self) -> crate::StoreInfo {
            self.inner.info()
        }
        fn commit(&mut self, batch: &Batch) -> Result<(), crate::Error> {
            let mut n = self.commits.lock().unwrap();
            *n += 1;
            if *n > self.fail_from {
                return Err(crate::Error::Backend("disk full".into()));
            }
            self.inner.commit(batch)
        }
        fn load(&mut self) -> Result<crate::Snapshot, crate::Error> {
            self.inner.load()
        }
        fn quarantine(&mut self, records: &[crate::Quarantine]) -> Result<Vec<crate::Quarantined>, crate::Error> {
            self.inner.quarantine(records)
        }
        /// "Copies" the runs committed so far: their count is the copy's size.
        fn backup(&mut self, _dest: &std::path::Path) -> Result<crate::BackupInfo, crate::Error> {
            let runs = self.inner.load()?.runs.len() as u64;
            Ok(crate::BackupInfo { bytes: runs, schema_version: 1 })
        }
    }

    #[test]
    fn a_backup_holds_every_batch_submitted_before_it_and_none_after() {
        let commits = Arc::new(Mutex::new(0));
        let store = Flaky { inner: MemoryStore::new(), commits: commits.clone(), fail_from: usize::MAX };
        // A window long enough that the batches and the backup arrive while one group gathers.
        let cfg = GroupCommitConfig { window: Duration::from_millis(50), ..Default::default() };
        let committer = GroupCommitter::start(Box::new(store), cfg, |_| {}).unwrap();
        let (tx, rx) = mpsc::channel();
        for n in 1..=3 {
            committer.submit(batch(n), Box::new(|_| {}));
        }
        committer.backup("unused".into(), Box::new(move |r| tx.send(r).unwrap()));
        committer.submit(batch(4), Box::new(|_| {}));
        let copied = rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
        assert_eq!(copied.bytes, 3, "the backup saw exactly the three runs submitted before it");
        drop(committer);
        assert!(*commits.lock().unwrap() >= 2, "the fourth batch was committed after the backup");
    }

    fn wait_all(rx: &mpsc::Receiver<(u128, Result<(), String>)>, n: usize) -> Vec<(u128, Result<(), String>)> {
        (0..n).map(|_| rx.recv_timeout(Duration::from_secs(10)).expect("callback ran")).collect()
    }

    #[test]
    fn after_a_failed_commit_no_later_group_is_committed_or_acknowledged() {
        let commits = Arc::new(Mutex::new(0));
        let store = Flaky { inner: MemoryStore::new(), commits: commits.clone(), fail_from: 1 };
        let committer = GroupCommitter::start(Box::new(store), GroupCommitConfig::default(), |_| {}).unwrap();
        let (tx, rx) = mpsc::channel();
        let submit = |i: u128| {
            let tx = tx.clone();
            committer.submit(batch(i), Box::new(move |r| tx.send((i, r)).unwrap()));
        };
        submit(0);
        assert_eq!(wait_all(&rx, 1), vec![(0, Ok(()))]);
        submit(1);
        let (_, second) = wait_all(&rx, 1).remove(0);
        assert!(second.unwrap_err().contains("disk full"));
        // The store would accept these if asked; it must not be asked.
        for i in 2..5 {
            submit(i);
        }
        for (i, r) in wait_all(&rx, 3) {
            let reason = r.expect_err("a group after the failure is refused");
            assert!(reason.contains("earlier commit failed") && reason.contains("disk full"), "{i}: {reason}");
        }
        assert_eq!(*commits.lock().unwrap(), 2, "nothing was written after the failure");
    }

    #[test]
    fn empty_batches_wait_their_turn_without_a_commit() {
        let commits = Arc::new(Mutex::new(0));
        let store = Flaky { inner: MemoryStore::new(), commits: commits.clone(), fail_from: usize::MAX };
        let committer = GroupCommitter::start(Box::new(store), GroupCommitConfig::default(), |_| {}).unwrap();
        let (tx, rx) = mpsc::channel();
        for i in 0..20u128 {
            let tx = tx.clone();
            let b = if i % 2 == 0 { batch(i) } else { Batch::default() };
            committer.submit(b, Box::new(move |r| tx.send((i, r)).unwrap()));
        }
        let order: Vec<u128> = wait_all(&rx, 20).into_iter().map(|(i, r)| r.map(|()| i).unwrap()).collect();
        assert_eq!(order, (0..20).collect::<Vec<_>>(), "callbacks in submission order");
        assert!(*commits.lock().unwrap() <= 10, "only groups with records are committed");
    }

    #[test]
    fn callbacks_run_in_order_after_commit_and_batches_merge() {
        let groups = Arc::new(Mutex::new(Vec::new()));
        let seen = groups.clone();
        let committer = GroupCommitter::start(
            Box::new(MemoryStore::new()),
            GroupCommitConfig { window: Duration::from_millis(50), max_records: 1000 },
            move |s| seen.lock().unwrap().push(s.batches),
        )
        .unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        for i in 0..10 {
            let order = order.clone();
            let tx = tx.clone();
            committer.submit(
                batch(i),
                Box::new(move |r| {
                    r.unwrap();
                    order.lock().unwrap().push(i);
                    tx.send(()).unwrap();
                }),
            );
        }
        for _ in 0..10 {
            rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
        let groups = groups.lock().unwrap();
        assert_eq!(groups.iter().sum::<usize>(), 10);
        assert!(groups.len() < 10, "a 50 ms window merges batches submitted together: {groups:?}");
    }
}
