//! Enums as the small stable integers every backend stores: a code, once written, keeps its
//! meaning; new states get new codes.
use weft_model::{RunStatus, TaskState};

pub fn run_status_code(s: RunStatus) -> u8 {
    match s {
        RunStatus::Running => 1,
        RunStatus::Succeeded => 2,
        RunStatus::Failed => 3,
        RunStatus::Cancelled => 4,
    }
}

/// `None` for a code no version of weft wrote.
pub fn run_status(code: u8) -> Option<RunStatus> {
    Some(match code {
        1 => RunStatus::Running,
        2 => RunStatus::Succeeded,
        3 => RunStatus::Failed,
        4 => RunStatus::Cancelled,
        _ => return None,
    })
}

pub fn task_state_code(s: TaskState) -> u8 {
    match s {
        TaskState::Pending => 1,
        TaskState::Ready => 2,
        TaskState::Assigned => 3,
        TaskState::Running => 4,
        TaskState::Succeeded => 5,
        TaskState::Failed => 6,
        TaskState::Cancelled => 7,
    }
}

/// `None` for a code no version of weft wrote.
pub fn task_state(code: u8) -> Option<TaskState> {
    Some(match code {
        1 => TaskState::Pending,
        2 => TaskState::Ready,
        3 => TaskState::Assigned,
        4 => TaskState::Running,
        5 => TaskState::Succeeded,
        6 => TaskState::Failed,
        7 => TaskState::Cancelled,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_none() {
        for s in [RunStatus::Running, RunStatus::Succeeded, RunStatus::Failed, RunStatus::Cancelled] {
            assert_eq!(run_status(run_status_code(s)), Some(s));
        }
        for s in [
            TaskState::Pending,
            TaskState::Ready,
            TaskState::Assigned,
            TaskState::Running,
            TaskState::Succeeded,
            TaskState::Failed,
            TaskState::Cancelled,
        ] {
            assert_eq!(task_state(task_state_code(s)), Some(s));
        }
        assert_eq!((run_status(0), run_status(5), task_state(0), task_state(8)), (None, None, None, None));
    }
}
