//! Bounds on everything a client can send. Requests past them are refused with a
//! message that names the field, never truncated silently.

/// Names of processes, workflows, tasks, queues and kinds.
pub const MAX_NAME_LEN: usize = 128;
/// Workflows in one process.
pub const MAX_WORKFLOWS: usize = 1_000;
/// Tasks in one process, over all its workflows.
pub const MAX_TASKS: usize = 100_000;
/// Dependencies of one task.
pub const MAX_DEPENDENCIES: usize = 10_000;
/// Encoded parameters of one task.
pub const MAX_PARAMS_BYTES: usize = 64 * 1024;
/// Encoded spec of a whole process (names and parameters).
pub const MAX_SPEC_BYTES: usize = 8 * 1024 * 1024;
/// A task result as recorded and handed to dependent tasks.
pub const MAX_RESULT_BYTES: usize = 1024 * 1024;
/// Run input JSON.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;
/// Idempotency keys.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 256;
/// Priorities run from -MAX_PRIORITY to MAX_PRIORITY.
pub const MAX_PRIORITY: i32 = 1_000;
/// Attempts of one task.
pub const MAX_ATTEMPTS: u32 = 100;
/// Longest retry backoff and longest task timeout.
pub const MAX_BACKOFF_MS: u64 = 24 * 3600 * 1000;
pub const MAX_TIMEOUT_MS: u64 = 7 * 24 * 3600 * 1000;
/// Largest retry multiplier.
pub const MAX_MULTIPLIER: f64 = 100.0;
/// Slots of one worker.
pub const MAX_SLOTS: u32 = 10_000;
/// Error messages recorded for a failed attempt.
pub const MAX_ERROR_BYTES: usize = 16 * 1024;
