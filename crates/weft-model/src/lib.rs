//! weft's domain model. Pure: no I/O, no async runtime.
//!
//! Layout:
//! - [`ids`]: typed identifiers (UUID v7 newtypes for runs and workers).
//! - [`spec`]: what a user writes: process, workflow and task specs (serde, YAML/JSON).
//! - [`builtin`]: the parameters of the built-in task kinds (noop, sleep, shell, http).
//! - [`validate`]: turns a spec into a [`plan::ProcessPlan`] or a list of field violations.
//! - [`plan`]: the validated, indexed form the engine runs.
//! - [`secret`]: secret references in task parameters (`{"secret": "bank-token"}`).
//! - [`dag`]: topological order and cycle detection.
//! - [`json`]: size, depth and syntax checks of JSON from outside, without recursion.
//! - [`limits`]: every size and range bound in one place.

pub mod builtin;
pub mod dag;
pub mod gates;
pub mod ids;
pub mod json;
pub mod limits;
pub mod plan;
pub mod schedule;
pub mod secret;
pub mod spec;
pub mod state;
pub mod validate;

pub use ids::{RunId, WorkerId};
pub use plan::{ProcessPlan, TaskPlan, WorkflowPlan};
pub use spec::{FailurePolicy, ProcessSpec, RetrySpec, TaskSpec, WorkflowSpec};
pub use state::{RunStatus, TaskState};
pub use validate::{ValidationError, Violation, check_plan_kinds, validate_process};

/// Milliseconds since the Unix epoch. The engine never reads a clock: time is an input.
pub type Millis = i64;
