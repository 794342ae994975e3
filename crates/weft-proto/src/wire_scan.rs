//! Counting a spec's workflows, tasks and dependencies on its encoded bytes, before prost
//! builds anything from them.
//!
//! Decoding a spec of 100,001 tasks allocates tens of megabytes and takes tens of
//! milliseconds, on the runtime thread that also answers health checks and heartbeats, only
//! for the count check to refuse it. A walk over the bytes finds the same counts with no
//! allocation, about a hundred times faster, so the codec refuses such a request before
//! decoding it ([`crate::codec`]).
//!
//! The walk only follows the fields it counts (a request's `spec`, a spec's `workflows`, a
//! workflow's `tasks`, a task's `depends_on`) and skips every other field by its wire type.
//! It sums repeated occurrences of a message field, as protobuf merges them. Bytes that are
//! not well-formed protobuf give `None`: prost then decodes them and reports the error.
use crate::convert::SpecCounts;

/// Field numbers followed by the walk (see `proto/weft/v1`).
mod field {
    /// `StartRunRequest.spec` and `RegisterDefinitionRequest.spec`.
    pub const REQUEST_SPEC: u64 = 2;
    /// `StartRunRequest.definition`, in a oneof with its `spec`.
    pub const START_RUN_DEFINITION: u64 = 1;
    pub const PROCESS_WORKFLOWS: u64 = 2;
    pub const WORKFLOW_TASKS: u64 = 2;
    pub const TASK_DEPENDS_ON: u64 = 6;
}

// Wire types. The walk goes at most four messages deep and skips everything below.
const WIRE_VARINT: u64 = 0;
const WIRE_FIXED64: u64 = 1;
const WIRE_LEN: u64 = 2;
const WIRE_FIXED32: u64 = 5;

/// The counts of the spec held by an encoded `StartRunRequest`, or `None` when the bytes are
/// not well-formed protobuf.
pub fn start_run_spec_counts(bytes: &[u8]) -> Option<SpecCounts> {
    request_spec_counts(bytes, Some(field::START_RUN_DEFINITION))
}

/// The counts of the spec held by an encoded `RegisterDefinitionRequest`, or `None` when the
/// bytes are not well-formed protobuf.
pub fn register_spec_counts(bytes: &[u8]) -> Option<SpecCounts> {
    request_spec_counts(bytes, None)
}

/// `oneof_sibling`: a field sharing a oneof with `spec`; prost keeps the last of the oneof's
/// fields seen, so one of it empties the spec counted so far.
fn request_spec_counts(bytes: &[u8], oneof_sibling: Option<u64>) -> Option<SpecCounts> {
    let mut counts = SpecCounts::default();
    for_each_field(bytes, |number, value| {
        match (number, value) {
            (field::REQUEST_SPEC, Value::Len(spec)) => process(spec, &mut counts)?,
            (number, _) if Some(number) == oneof_sibling => counts = SpecCounts::default(),
            _ => {}
        }
        Some(())
    })?;
    Some(counts)
}

fn process(bytes: &[u8], counts: &mut SpecCounts) -> Option<()> {
    for_each_field(bytes, |number, value| {
        if let (field::PROCESS_WORKFLOWS, Value::Len(workflow)) = (number, value) {
            counts.workflows += 1;
            for_each_field(workflow, |number, value| {
                if let (field::WORKFLOW_TASKS, Value::Len(task)) = (number, value) {
                    counts.tasks += 1;
                    for_each_field(task, |number, value| {
                        if let (field::TASK_DEPENDS_ON, Value::Len(_)) = (number, value) {
                            counts.dependency_edges += 1;
                        }
                        Some(())
                    })?;
                }
                Some(())
            })?;
        }
        Some(())
    })
}

/// One field's value: a length-delimited one is its bytes, others are skipped unread.
enum Value<'a> {
    Len(&'a [u8]),
    Other,
}

/// Calls `f` with each field's number and value; `None` when the bytes end inside a field,
/// hold a wire type protobuf 3 does not use (groups, 6, 7) or a field number 0.
fn for_each_field<'a>(mut bytes: &'a [u8], mut f: impl FnMut(u64, Value<'a>) -> Option<()>) -> Option<()> {
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let number = key >> 3;
        if number == 0 {
            return None;
        }
        let value = match key & 7 {
            WIRE_VARINT => {
                varint(&mut bytes)?;
                Value::Other
            }
            WIRE_FIXED64 => {
                bytes = bytes.get(8..)?;
                Value::Other
            }
            WIRE_FIXED32 => {
                bytes = bytes.get(4..)?;
                Value::Other
            }
            WIRE_LEN => {
                let len = usize::try_from(varint(&mut bytes)?).ok()?;
                let (inner, rest) = (bytes.get(..len)?, bytes.get(len..)?);
                bytes = rest;
                Value::Len(inner)
            }
            _ => return None,
        };
        f(number, value)?;
    }
    Some(())
}

/// A base-128 varint of at most ten bytes.
fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb;
    use proptest::prelude::*;
    use prost::Message;

    fn task(name: &str, deps: usize) -> pb::TaskSpec {
        pb::TaskSpec {
            name: name.into(),
            kind: "noop".into(),
            params_json: r#"{"a":[1,2,{"b":"c"}]}"#.into(),
            priority: -3,
            depends_on: (0..deps).map(|d| format!("d{d}")).collect(),
            timeout_ms: Some(5),
            cost_seconds: Some(1.5),
            retry: Some(pb::RetryPolicy { max_attempts: Some(3), ..Default::default() }),
            ..Default::default()
        }
    }

    fn spec(shape: &[Vec<usize>]) -> pb::ProcessSpec {
        pb::ProcessSpec {
            name: "p".into(),
            workflows: shape
                .iter()
                .enumerate()
                .map(|(w, tasks)| pb::WorkflowSpec {
                    name: format!("w{w}"),
                    tasks: tasks.iter().enumerate().map(|(t, &deps)| task(&format!("t{t}"), deps)).collect(),
                    ..Default::default()
                })
                .collect(),
            deadline_ms: Some(10),
            ..Default::default()
        }
    }

    proptest! {
        /// The walk agrees with prost's decoding on every spec, in both requests.
        #[test]
        fn counts_on_the_bytes_equal_counts_of_the_decoded_spec(
            shape in prop::collection::vec(prop::collection::vec(0usize..4, 0..6), 0..5),
            key in ".{0,8}",
        ) {
            let spec = spec(&shape);
            let expected = SpecCounts::of(&spec);
            let start = pb::StartRunRequest {
                source: Some(pb::start_run_request::Source::Spec(spec.clone())),
                idempotency_key: key,
                input_json: "[1]".into(),
            };
            prop_assert_eq!(start_run_spec_counts(&start.encode_to_vec()), Some(expected));
            let register = pb::RegisterDefinitionRequest { name: "p".into(), spec: Some(spec) };
            prop_assert_eq!(register_spec_counts(&register.encode_to_vec()), Some(expected));
        }

        /// Arbitrary bytes never panic the walk, and whatever it counts, prost decodes
        /// to the same counts (or fails to decode).
        #[test]
        fn arbitrary_bytes_never_panic_and_never_disagree_with_prost(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let counts = start_run_spec_counts(&bytes);
            if let (Some(counts), Ok(decoded)) = (counts, pb::StartRunRequest::decode(&bytes[..])) {
                let of_decoded = match decoded.source {
                    Some(pb::start_run_request::Source::Spec(s)) => SpecCounts::of(&s),
                    _ => SpecCounts::default(),
                };
                prop_assert_eq!(counts, of_decoded);
            }
        }
    }

    #[test]
    fn a_spec_given_twice_is_counted_as_prost_merges_it() {
        let one = pb::StartRunRequest {
            source: Some(pb::start_run_request::Source::Spec(spec(&[vec![0, 1]]))),
            ..Default::default()
        };
        let mut twice = one.encode_to_vec();
        twice.extend(one.encode_to_vec());
        let decoded = pb::StartRunRequest::decode(&twice[..]).unwrap();
        let Some(pb::start_run_request::Source::Spec(merged)) = decoded.source else { panic!("a spec") };
        assert_eq!(start_run_spec_counts(&twice), Some(SpecCounts::of(&merged)));
        assert_eq!(SpecCounts::of(&merged).tasks, 4);
        // A definition between them: prost keeps only what follows it.
        let definition = pb::StartRunRequest {
            source: Some(pb::start_run_request::Source::Definition(Default::default())),
            ..Default::default()
        };
        let mut replaced = one.encode_to_vec();
        replaced.extend(definition.encode_to_vec());
        assert_eq!(start_run_spec_counts(&replaced), Some(SpecCounts::default()));
        replaced.extend(one.encode_to_vec());
        assert_eq!(start_run_spec_counts(&replaced).map(|c| c.tasks), Some(2));
    }

    #[test]
    fn bytes_cut_inside_a_field_are_not_counted() {
        let bytes = pb::StartRunRequest {
            source: Some(pb::start_run_request::Source::Spec(spec(&[vec![2]]))),
            ..Default::default()
        }
        .encode_to_vec();
        for cut in 1..bytes.len() {
            assert_eq!(start_run_spec_counts(&bytes[..cut]), None, "cut at {cut}");
        }
    }
}
