//! `weftctl admin quarantine`: stored records the coordinator could not restore.
use crate::output::{Table, json_value, rfc3339, truncate};
use serde::Serialize;
use weft_client::pb;

/// Characters of a reason shown in a table; `--output json` has all of it.
const REASON_WIDTH: usize = 100;

/// One quarantined record as JSON: the record itself as a JSON value when it is one.
#[derive(Debug, Serialize)]
pub struct QuarantinedView {
    pub table: String,
    pub key: String,
    pub reason: String,
    pub quarantined_at: Option<String>,
    pub quarantined_at_ms: i64,
    pub record: serde_json::Value,
    pub record_bytes: u64,
    /// The coordinator sends the first 8 KiB of a record; the store keeps all of it.
    pub record_truncated: bool,
}

impl QuarantinedView {
    pub fn new(q: &pb::QuarantinedRecord) -> Self {
        let truncated = q.record_bytes > q.record.len() as u64;
        QuarantinedView {
            table: q.table.clone(),
            key: q.key.clone(),
            reason: q.reason.clone(),
            quarantined_at: rfc3339(q.quarantined_at_ms),
            quarantined_at_ms: q.quarantined_at_ms,
            // A cut record is not JSON any more: keep it as text.
            record: if truncated { q.record.clone().into() } else { json_value(&q.record) },
            record_bytes: q.record_bytes,
            record_truncated: truncated,
        }
    }
}

/// `TABLE  KEY  QUARANTINED  REASON`, oldest first.
pub fn quarantine_table(records: &[pb::QuarantinedRecord]) -> Table {
    let mut table = Table::new(&["table", "key", "quarantined", "reason"]);
    for q in records {
        table.row(vec![
            q.table.clone(),
            q.key.clone(),
            rfc3339(q.quarantined_at_ms).unwrap_or_default(),
            truncate(&q.reason, REASON_WIDTH),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(record: &str, record_bytes: u64) -> pb::QuarantinedRecord {
        pb::QuarantinedRecord {
            table: "definitions".into(),
            key: "orders@2".into(),
            reason: "spec: recursion limit exceeded at line 1 column 129".into(),
            record: record.into(),
            record_bytes,
            quarantined_at_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn one_row_per_record_and_the_record_as_json() {
        let text = quarantine_table(&[record("{}", 2)]).render();
        assert_eq!(
            text,
            "TABLE        KEY       QUARANTINED               REASON\n\
             definitions  orders@2  2023-11-14T22:13:20.000Z  spec: recursion limit exceeded at line 1 column 129\n"
        );
        let view = serde_json::to_value(QuarantinedView::new(&record(r#"{"name":"orders"}"#, 17))).unwrap();
        assert_eq!(view["record"]["name"], "orders");
        assert_eq!(view["record_truncated"], false);
        let cut = serde_json::to_value(QuarantinedView::new(&record(r#"{"name":"ord"#, 9000))).unwrap();
        assert_eq!((cut["record"].as_str(), cut["record_truncated"].as_bool()), (Some(r#"{"name":"ord"#), Some(true)));
    }
}
