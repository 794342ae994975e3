//! Schedules: once per slot, across restarts and clock jumps, by their policies.
use super::*;
use crate::schedules::ScheduleState;
use weft_model::schedule::{CatchUp, Overlap, ScheduleSpec};

fn every_second(catch_up: CatchUp, overlap: Overlap) -> ScheduleSpec {
    ScheduleSpec {
        name: "tick".into(),
        cron: "* * * * * *".into(),
        timezone: "UTC".into(),
        definition: "billing".into(),
        version: None,
        input_json: r#"{"from": "schedule"}"#.into(),
        overlap,
        catch_up,
    }
}

/// An engine with the `billing` definition: one noop task, or one that stays running
/// (no worker is there to run it) when `slow`.
fn engine_with_billing(now: Millis, slow: bool) -> Env {
    let mut env = Env::new();
    env.now = now;
    let task = match slow {
        true => TaskSpec { params: serde_json::json!({"duration": "1h"}), ..TaskSpec::new("charge", "sleep") },
        false => TaskSpec::new("charge", "noop"),
    };
    let spec = process(vec![WorkflowSpec { name: "w".into(), tasks: vec![task], chain: false, default_retry: None }]);
    env.engine.register_definition("billing", ProcessSpec { name: "billing".into(), ..spec }, now).unwrap();
    env
}

/// The slots started, by their idempotency keys' slot, in order.
fn started_slots(env: &Env) -> Vec<Millis> {
    let mut slots: Vec<Millis> = env
        .engine
        .runs
        .values()
        .filter_map(|r| r.idempotency_key.as_deref()?.strip_prefix("schedule:tick:")?.parse().ok())
        .collect();
    slots.sort();
    slots
}

/// A new engine from what `env`'s stored: definitions, runs and schedules.
fn restarted(env: &Env, now: Millis) -> Env {
    let mut back = Env::new();
    back.now = now;
    for versions in env.engine.definitions.values() {
        for d in versions {
            back.engine.restore_definition(d.clone());
        }
    }
    for run in env.engine.runs.values() {
        back.engine.restore_run(stored(run), now);
    }
    let refused = back.engine.restore_schedules(env.engine.stored_schedules(), now);
    assert!(refused.is_empty(), "{refused:?}");
    back
}

fn state(env: &Env) -> ScheduleState {
    env.engine.get_schedule("tick").unwrap().state.clone()
}

#[test]
fn a_schedule_starts_one_run_per_slot_with_a_key_per_slot() {
    let mut env = engine_with_billing(1_000_000, false);
    env.engine.put_schedule(every_second(CatchUp::Latest, Overlap::Allow), env.now).unwrap();
    assert_eq!(env.engine.get_schedule("tick").unwrap().upcoming(3), [1_001_000, 1_002_000, 1_003_000]);
    for _ in 0..10 {
        env.advance(500);
    }
    assert_eq!(started_slots(&env), [1_001_000, 1_002_000, 1_003_000, 1_004_000, 1_005_000]);
    let run = env.engine.runs.values().next().unwrap();
    assert_eq!(&*run.input_json, r#"{"from": "schedule"}"#);
    assert_eq!(run.definition.as_ref().map(|(n, v)| (n.to_string(), *v)), Some(("billing".into(), 1)));
    assert_eq!((state(&env).fired, state(&env).skipped), (5, 0));
    // Paused, nothing starts; resumed, the slots passed meanwhile are not caught up.
    env.engine.set_schedule_paused("tick", true, env.now).unwrap();
    env.advance(3_000);
    assert_eq!(started_slots(&env).len(), 5);
    env.engine.set_schedule_paused("tick", false, env.now).unwrap();
    env.advance(1_000);
    assert_eq!(started_slots(&env).last(), Some(&1_009_000));
    assert_eq!(started_slots(&env).len(), 6);
}

#[test]
fn after_downtime_the_catch_up_policy_decides_and_no_slot_starts_twice() {
    for (policy, expect) in [
        (CatchUp::Latest, vec![1_011_000]),
        (CatchUp::None, vec![1_011_000]),
        (CatchUp::All { window_ms: 3_000 }, vec![1_008_000, 1_009_000, 1_010_000, 1_011_000]),
    ] {
        let mut env = engine_with_billing(1_000_000, false);
        env.engine.put_schedule(every_second(policy, Overlap::Allow), env.now).unwrap();
        env.advance(1_000);
        assert_eq!(started_slots(&env), [1_001_000]);
        // Down for ten seconds; a new coordinator from the store.
        let mut back = restarted(&env, env.now + 10_000);
        back.engine.tick(back.now);
        let mut want = vec![1_001_000];
        want.extend(&expect);
        assert_eq!(started_slots(&back), want, "{policy:?}");
        assert_eq!(state(&back).skipped as usize, 10 - expect.len(), "{policy:?}: the rest counted as skipped");
        // Restarted again at once: nothing starts twice.
        let mut again = restarted(&back, back.now);
        again.engine.tick(again.now);
        assert_eq!(started_slots(&again), want, "{policy:?}");
    }
    // A slot more than a minute late does not start without catching up.
    let mut env = engine_with_billing(1_000_000, false);
    let mut spec = every_second(CatchUp::None, Overlap::Allow);
    spec.cron = "0 0 * * * *".into();
    env.engine.put_schedule(spec, env.now).unwrap();
    let mut back = restarted(&env, 1_000_000 + 3_600_000 + 120_000);
    back.engine.tick(back.now);
    assert!(started_slots(&back).is_empty() && state(&back).skipped == 1);
}

#[test]
fn overlapping_slots_are_skipped_or_queued_by_the_overlap_policy() {
    // The run never ends by itself (no worker serves its kind).
    let mut env = engine_with_billing(1_000_000, true);
    env.engine.put_schedule(every_second(CatchUp::Latest, Overlap::Skip), env.now).unwrap();
    for _ in 0..3 {
        env.advance(1_000);
    }
    assert_eq!(started_slots(&env), [1_001_000], "the next two found it running");
    assert_eq!(state(&env).skipped, 2);

    let mut env = engine_with_billing(1_000_000, true);
    env.engine.put_schedule(every_second(CatchUp::Latest, Overlap::QueueOne), env.now).unwrap();
    for _ in 0..3 {
        env.advance(1_000);
    }
    assert_eq!(started_slots(&env), [1_001_000]);
    assert_eq!(state(&env).pending_slot, Some(1_003_000), "the latest waits; the one before it was replaced");
    let first = state(&env).last_run.unwrap();
    env.engine.cancel_run(first, "done", env.now).unwrap();
    assert_eq!(started_slots(&env), [1_001_000, 1_003_000], "started when the run before it ended");
}

#[test]
fn a_definition_gone_or_a_bad_stored_schedule_is_said_not_fatal() {
    let mut env = Env::new();
    let refused = env.engine.put_schedule(every_second(CatchUp::Latest, Overlap::Allow), env.now).unwrap_err();
    assert!(refused.to_string().contains("definition `billing` not found"), "{refused}");
    // Registered when put, gone by its slot (a store restored without it): said, counted.
    let mut env = engine_with_billing(1_000_000, false);
    env.engine.put_schedule(every_second(CatchUp::Latest, Overlap::Allow), env.now).unwrap();
    env.engine.definitions.clear();
    env.advance(1_000);
    let s = state(&env);
    assert_eq!((s.fired, s.skipped), (0, 1));
    assert!(s.last_error.contains("definition `billing` not found"), "{}", s.last_error);
    let mut broken = env.engine.stored_schedules();
    broken[0].spec_json = "{".into();
    let refused = Env::new().engine.restore_schedules(broken, 0);
    assert_eq!(refused.len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    /// Random steps forward, clock jumps and restarts: with catch-up over a window longer
    /// than any jump, every slot from the first to the last time starts exactly once.
    #[test]
    fn every_slot_starts_once_across_restarts_and_clock_jumps(
        steps in proptest::collection::vec((0u8..10, 1i64..4_000), 1..40),
    ) {
        let mut env = engine_with_billing(1_000_000, false);
        env.engine.put_schedule(every_second(CatchUp::All { window_ms: 3_600_000 }, Overlap::Allow), env.now).unwrap();
        for (what, ms) in steps {
            match what {
                0 => env = restarted(&env, env.now),
                1 => env.advance(ms * 20),
                _ => env.advance(ms),
            }
        }
        let slots = started_slots(&env);
        let want: Vec<Millis> = (1..).map(|i| 1_000_000 + i * 1_000).take_while(|s| *s <= env.now).collect();
        prop_assert_eq!(slots, want);
    }
}
