//! Bounds on everything a client or a worker can send. Requests past them are refused with
//! a message that names the field, never truncated silently; the README's "Limits" table
//! lists each one and what happens past it.
//!
//! Counts (tasks, workflows, dependencies, names, spec bytes) are checked before work is
//! done on them: the whole-spec counts on a request's bytes before they are decoded
//! (`weft-proto`'s codec), all of them on the wire message before anything is built from it
//! (`weft-proto`'s conversion), and again by [`crate::validate`] for specs that come from
//! files or the store.

/// Names of processes, workflows, tasks, queues and kinds.
pub const MAX_NAME_LEN: usize = 128;
/// Workflows in one process.
pub const MAX_WORKFLOWS: usize = 1_000;
/// Tasks in one process, over all its workflows.
pub const MAX_TASKS: usize = 100_000;
/// Dependencies (`depends_on` entries) of one task.
pub const MAX_DEPENDENCIES: usize = 10_000;
/// `depends_on` entries of one process, over all its tasks: a 100,000-task process may
/// average two each. Bounds the work of checking a spec (a wide fan-in is fine; 270 tasks of
/// 10,000 dependencies each is not).
pub const MAX_DEPENDENCY_EDGES: usize = 200_000;
/// Encoded parameters of one task.
pub const MAX_PARAMS_BYTES: usize = 64 * 1024;
/// Encoded spec of a whole process (names and parameters).
pub const MAX_SPEC_BYTES: usize = 8 * 1024 * 1024;
/// A task result as recorded and handed to dependent tasks.
pub const MAX_RESULT_BYTES: usize = 1024 * 1024;
/// Run input JSON.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;
/// Nesting of arrays and objects in any JSON a client or worker sends: task and
/// compensation parameters, run input, task results. A whole spec nests a few levels more
/// than its parameters and must stay well under serde_json's own limit (128), or a stored
/// spec could not be read back.
pub const MAX_JSON_DEPTH: usize = 32;
/// Idempotency keys.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 256;
/// Priorities run from -MAX_PRIORITY to MAX_PRIORITY.
pub const MAX_PRIORITY: i32 = 1_000;
/// Attempts of one task.
pub const MAX_ATTEMPTS: u32 = 100;
/// Longest retry backoff.
pub const MAX_BACKOFF_MS: u64 = 24 * 3600 * 1000;
/// Longest task timeout, queue timeout and run deadline.
pub const MAX_TIMEOUT_MS: u64 = 7 * 24 * 3600 * 1000;
/// Largest retry multiplier.
pub const MAX_MULTIPLIER: f64 = 100.0;
/// Slots of one worker.
pub const MAX_SLOTS: u32 = 10_000;
/// Named limits a process may declare.
pub const MAX_LIMITS: usize = 32;
/// Limits one task may use.
pub const MAX_USES: usize = 8;
/// A limit's concurrency, a concurrency key's `max_per_key`, and a rate's count.
pub const MAX_LIMIT_COUNT: u32 = 1_000_000;
/// A rate's window: 1 s to a day.
pub const MIN_RATE_WINDOW_MS: u64 = 1_000;
pub const MAX_RATE_WINDOW_MS: u64 = 24 * 3600 * 1000;
/// Elements a `for_each` takes when its `max_items` is not given.
pub const DEFAULT_MAX_ITEMS: u32 = 1_000;
/// A concurrency key template, and the key it renders to (cut beyond).
pub const MAX_CONCURRENCY_KEY_BYTES: usize = 256;
/// Error messages recorded for a failed attempt.
pub const MAX_ERROR_BYTES: usize = 16 * 1024;
/// A cancel's reason: it is recorded with every task the cancel ends.
pub const MAX_REASON_BYTES: usize = 1024;
/// Queues and kinds a worker registers, each.
pub const MAX_WORKER_LABELS: usize = 1_000;
/// A worker's name and version.
pub const MAX_WORKER_NAME_LEN: usize = 256;

/// Longest `sleep` task.
pub const MAX_SLEEP_MS: u64 = MAX_TIMEOUT_MS;
/// Longest `http` request timeout.
pub const MAX_HTTP_TIMEOUT_MS: u64 = 3600 * 1000;
/// Largest `max_output_bytes` of a `shell` task (each of stdout and stderr) and
/// `max_body_bytes` of an `http` task: half the result limit, so that a result of plain
/// text fits. Output that grows past the result limit once escaped as JSON fails the attempt
/// at the report.
pub const MAX_CAPTURE_BYTES: usize = MAX_RESULT_BYTES / 2;

/// Field violations listed in one refusal; past it one more entry says how many were left out.
pub const MAX_VIOLATIONS: usize = 50;
/// Bytes of field paths and messages listed in one refusal. gRPC carries violations in
/// headers (base64, a third larger), and clients limit those (8 KiB in grpcio, 16 KiB in
/// hyper): with a short status message beside them a refusal stays under the smallest.
pub const MAX_VIOLATIONS_BYTES: usize = 3 * 1024;
/// Characters of one violation's message.
pub const MAX_VIOLATION_MESSAGE_CHARS: usize = 200;
/// Characters of a user's value quoted back in an error (a name, a dependency, a URL);
/// longer values are cut and end with `…`.
pub const MAX_ECHO_CHARS: usize = 64;

// Messages between nodes: one limit, used by every gRPC client and server of weft (the
// coordinator's services, the worker's session and report streams, weftctl and
// `weft-client`), for encoding and decoding alike.

/// Largest gRPC message a weft node sends or accepts.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// Largest request a client may send (StartRun, RegisterDefinition: a spec, an input and
/// a few small fields). Checked on the length prefix, before a byte of it is decoded: a
/// larger message (an 11 MB spec of a million tasks) costs the coordinator no memory and no
/// decoding time.
pub const MAX_REQUEST_BYTES: usize = MAX_SPEC_BYTES + MAX_INPUT_BYTES + 64 * 1024;
/// Room in an assignment for what is not the task's inputs: ids, names, kind, framing.
pub const ASSIGNMENT_FRAMING_BYTES: usize = 64 * 1024;
/// Largest sum of a task's params, its run's input and its dependencies' results (with
/// their names) that one assignment carries. A task whose inputs are larger fails at
/// dispatch, with this limit in its error, rather than being sent.
pub const MAX_ASSIGNMENT_INPUT_BYTES: usize = MAX_MESSAGE_BYTES - ASSIGNMENT_FRAMING_BYTES;
