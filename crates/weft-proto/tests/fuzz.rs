//! Property tests: arbitrary wire specs, and arbitrary bytes decoded as requests, go through
//! the coordinator's path (wire conversion, then validation). Whatever comes in, nothing
//! panics, a refusal names a field and stays small, and an accepted spec reads back.
use proptest::prelude::*;
use prost::Message;
use weft_model::limits::{MAX_VIOLATIONS, MAX_VIOLATIONS_BYTES};
use weft_model::{ValidationError, validate_process};
use weft_proto::convert::{process_from_pb, process_to_pb};
use weft_proto::pb;

fn check(spec: &pb::ProcessSpec) -> Result<(), TestCaseError> {
    let result = process_from_pb(spec, "spec")
        .and_then(|model| validate_process(&model, &|k| k == "custom").map_err(|e| e.prefixed("spec")));
    match result {
        Ok(plan) => {
            // What was accepted reads back from the JSON a run and the store keep.
            let back =
                plan.spec().map_err(|e| TestCaseError::fail(format!("accepted spec does not read back: {e}")))?;
            prop_assert_eq!(&process_from_pb(&process_to_pb(&back), "spec").unwrap(), &back);
        }
        Err(err) => check_refusal(&err)?,
    }
    Ok(())
}

fn check_refusal(err: &ValidationError) -> Result<(), TestCaseError> {
    prop_assert!(!err.violations.is_empty());
    prop_assert!(err.violations.len() <= MAX_VIOLATIONS + 1, "{} violations", err.violations.len());
    let bytes: usize = err.violations.iter().map(|v| v.field.len() + v.message.len()).sum();
    prop_assert!(bytes <= MAX_VIOLATIONS_BYTES + 5 * MAX_VIOLATIONS + 64, "{} bytes", bytes);
    for (i, v) in err.violations.iter().enumerate() {
        let more = i + 1 == err.violations.len() && err.omitted() > 0;
        prop_assert!(more || v.field.starts_with("spec"), "violation names no field: {:?}", v);
    }
    Ok(())
}

/// Names: mostly valid and often repeated (so dependencies resolve), sometimes odd or long.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec!["a", "b", "c", "d", "w", "default", "q"]).prop_map(String::from),
        1 => "[a-z]{1,8}",
        1 => ".{0,12}",
        1 => (129usize..300).prop_map(|n| "x".repeat(n)),
    ]
}

/// A JSON value in up to `wrappers` arrays and objects around a shallow branching value.
fn json_value(wrappers: usize) -> impl Strategy<Value = String> + Clone {
    let leaf = prop_oneof![Just("1".to_string()), Just("null".to_string()), "\"[a-z\\[\\]{}]{0,6}\"",];
    // Branching but shallow values...
    let shallow = leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-z_]{1,6}", inner), 0..3).prop_map(|kv| {
                let fields: Vec<String> = kv.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    });
    // ...wrapped in up to 45 arrays and objects, built by a loop: a recursive strategy that
    // deep overflows the test thread's stack in proptest itself.
    (prop::collection::vec(any::<bool>(), 0..wrappers), shallow).prop_map(|(wrappers, mut v)| {
        for array in wrappers {
            v = if array { format!("[{v}]") } else { format!("{{\"k\":{v}}}") };
        }
        v
    })
}

/// JSON text: values up to 45 levels deep (around the 32 allowed), or near-JSON, or nothing.
fn json_text() -> impl Strategy<Value = String> {
    let value = json_value(45);
    prop_oneof![
        3 => value.clone().prop_map(|v| format!("{{\"result\":{v}}}")),
        1 => value,
        1 => ".{0,16}",
        1 => Just(String::new()),
        1 => prop::sample::select(vec![
            r#"{"argv":["true"],"max_output_bytes":1000000000000}"#,
            r#"{"argv":[]}"#,
            r#"{"duration":"100000000years"}"#,
            r#"{"duration":0}"#,
            r#"{"url":"http://x","timeout":0}"#,
            r#"{"url":"ftp://x","method":"BREW"}"#,
        ])
        .prop_map(String::from),
    ]
}

fn kind() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["noop", "sleep", "shell", "http", "custom", "shel", ""]).prop_map(String::from),
        1 => name(),
    ]
}

fn opt_u64() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![Just(None), Just(Some(0)), (1u64..10_000).prop_map(Some), any::<u64>().prop_map(Some)]
}

fn opt_f64() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![Just(None), Just(Some(0.0)), (0.5f64..200.0).prop_map(Some), any::<f64>().prop_map(Some)]
}

fn retry() -> impl Strategy<Value = Option<pb::RetryPolicy>> {
    let policy =
        (
            prop_oneof![Just(None), Just(Some(0u32)), (1u32..200).prop_map(Some)],
            opt_u64(),
            opt_u64(),
            opt_f64(),
            opt_f64(),
        )
            .prop_map(|(max_attempts, initial_backoff_ms, max_backoff_ms, multiplier, jitter)| {
                pb::RetryPolicy { max_attempts, initial_backoff_ms, max_backoff_ms, multiplier, jitter }
            });
    prop::option::of(policy)
}

/// Built from three boxed parts: as one strategy of nested tuples its value tree takes more
/// stack than a test thread has in a debug build.
fn task() -> BoxedStrategy<pb::TaskSpec> {
    let compensation =
        (kind(), json_text(), name(), retry(), opt_u64()).prop_map(|(kind, params_json, queue, retry, timeout_ms)| {
            pb::Compensation { kind, params_json, queue, retry, timeout_ms }
        });
    let head = (
        name(),
        kind(),
        json_text(),
        prop_oneof![-2000i32..2000, any::<i32>()],
        prop_oneof![Just(String::new()), name()],
    )
        .boxed();
    let order =
        (prop::collection::vec(name(), 0..4), retry(), opt_u64(), opt_f64(), opt_u64(), prop::option::of(compensation))
            .boxed();
    let gates = (
        prop::collection::vec(name(), 0..10),
        prop::option::of(prop_oneof![
            Just("{{input.customer}}".to_string()),
            Just("{{input".to_string()),
            ".{0,20}",
            (200usize..400).prop_map(|n| "k".repeat(n)),
        ]),
        prop::option::of(prop_oneof![Just(0u32), 1u32..10, any::<u32>()]),
        prop::option::of(prop_oneof![Just("input.items".to_string()), Just("a.x".to_string()), ".{0,20}"]),
        prop::option::of(prop_oneof![Just(0u32), 1u32..10, any::<u32>()]),
    )
        .boxed();
    (head, order, gates)
        .prop_map(
            |(
                (name, kind, params_json, priority, queue),
                (depends_on, retry, timeout_ms, cost_seconds, queue_timeout_ms, compensate),
                (uses, concurrency_key, max_per_key, for_each, max_items),
            )| {
                pb::TaskSpec {
                    name,
                    kind,
                    params_json,
                    priority,
                    queue,
                    depends_on,
                    retry,
                    timeout_ms,
                    cost_seconds,
                    queue_timeout_ms,
                    compensate,
                    uses,
                    concurrency_key,
                    max_per_key,
                    for_each,
                    max_items,
                    max_parallel: max_items,
                }
            },
        )
        .boxed()
}

fn limits() -> BoxedStrategy<std::collections::HashMap<String, pb::Limit>> {
    let rate = prop_oneof![
        Just(String::new()),
        Just("100/min".to_string()),
        Just("0/s".to_string()),
        Just("5/1ms".to_string()),
        "[0-9]{0,12}/[a-z0-9]{0,4}",
        ".{0,12}",
    ];
    let limit = (prop::option::of(prop_oneof![Just(0u32), 1u32..10, any::<u32>()]), rate)
        .prop_map(|(concurrency, rate)| pb::Limit { concurrency, rate });
    prop::collection::hash_map(name(), limit, 0..40).boxed()
}

fn process() -> impl Strategy<Value = pb::ProcessSpec> {
    let workflow = (name(), prop::collection::vec(task(), 0..6), any::<bool>(), retry())
        .prop_map(|(name, tasks, chain, default_retry)| pb::WorkflowSpec { name, tasks, chain, default_retry });
    (name(), prop::collection::vec(workflow, 0..4), -1i32..4, retry(), opt_u64(), limits()).prop_map(
        |(name, workflows, failure_policy, default_retry, deadline_ms, limits)| pb::ProcessSpec {
            name,
            workflows,
            failure_policy,
            default_retry,
            deadline_ms,
            limits,
        },
    )
}

/// Mostly valid specs (unique names, known kinds, values in range) with now and then one
/// value past a bound, so that validation runs to its end and plans get built.
fn tame_process() -> impl Strategy<Value = pb::ProcessSpec> {
    let ms = || prop_oneof![40 => Just(None), 10 => (1u64..100_000).prop_map(Some), 1 => Just(Some(0)), 1 => Just(Some(u64::MAX))];
    let retry = prop::option::of(
        (
            prop_oneof![10 => Just(None), 10 => (1u32..=100).prop_map(Some), 1 => Just(Some(0))],
            ms(),
            prop_oneof![Just(None), (1.0f64..=100.0).prop_map(Some)],
        )
            .prop_map(|(max_attempts, initial_backoff_ms, multiplier)| pb::RetryPolicy {
                max_attempts,
                initial_backoff_ms,
                multiplier,
                ..Default::default()
            }),
    );
    let params = prop_oneof![
        4 => json_value(30).prop_map(|v| ("noop", format!("{{\"result\":{v}}}"))),
        1 => Just(("sleep", r#"{"duration":"1ms"}"#.to_string())),
        1 => Just(("shell", r#"{"argv":["true"],"max_output_bytes":100}"#.to_string())),
        1 => Just(("custom", String::new())),
    ];
    let task = (
        params,
        prop_oneof![40 => -1000i32..=1000, 1 => any::<i32>()],
        prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        retry,
        ms(),
        ms(),
        prop::option::of(json_value(30)),
    );
    let workflow = (prop::collection::vec(task, 1..6), any::<bool>());
    (prop::collection::vec(workflow, 1..4), ms()).prop_map(|(workflows, deadline_ms)| pb::ProcessSpec {
        name: "p".into(),
        deadline_ms,
        workflows: workflows
            .into_iter()
            .enumerate()
            .map(|(wi, (tasks, chain))| pb::WorkflowSpec {
                name: format!("w{wi}"),
                chain,
                tasks: tasks
                    .into_iter()
                    .enumerate()
                    .map(|(ti, ((kind, params_json), priority, deps, retry, timeout_ms, queue_timeout_ms, comp))| {
                        let mut depends_on: Vec<String> = if chain || ti == 0 {
                            vec![]
                        } else {
                            deps.iter().map(|d| format!("t{}", d.index(ti))).collect()
                        };
                        depends_on.dedup();
                        pb::TaskSpec {
                            name: format!("t{ti}"),
                            kind: kind.into(),
                            params_json,
                            priority,
                            depends_on,
                            retry,
                            timeout_ms,
                            queue_timeout_ms,
                            compensate: comp.map(|v| pb::Compensation {
                                kind: "noop".into(),
                                params_json: format!("{{\"result\":{v}}}"),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_specs_never_panic_and_refusals_name_a_field(spec in process()) {
        check(&spec)?;
    }

    #[test]
    fn mostly_valid_specs_are_planned_or_refused_naming_a_field(spec in tame_process()) {
        check(&spec)?;
    }

    #[test]
    fn arbitrary_bytes_decoded_as_a_request_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(req) = pb::StartRunRequest::decode(&bytes[..])
            && let Some(pb::start_run_request::Source::Spec(spec)) = &req.source
        {
            check(spec)?;
        }
        if let Ok(spec) = pb::ProcessSpec::decode(&bytes[..]) {
            check(&spec)?;
        }
    }

    #[test]
    fn valid_encodings_with_bytes_changed_never_panic(
        spec in process(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = spec.encode_to_vec();
        if !bytes.is_empty() {
            for (at, value) in edits {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
        }
        if let Ok(spec) = pb::ProcessSpec::decode(&bytes[..]) {
            check(&spec)?;
        }
    }
}
