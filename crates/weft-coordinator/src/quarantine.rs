//! Records that could not be restored at start: moved into the store's quarantine, logged,
//! and listed by `MonitorService.ListQuarantined` (`weftctl admin quarantine`). The list is
//! fixed for the life of the coordinator: records are set aside only while it starts.
use std::sync::Arc;
use tonic::Status;
use weft_proto::pb;
use weft_store::{Quarantine, Quarantined, Store};

/// Of each record, the listing carries this much; the store keeps it whole.
const RECORD_EXCERPT_BYTES: usize = 8 * 1024;
/// Records logged one by one at start; the rest are counted.
const LOGGED: usize = 20;

/// Moves `records` into the store's quarantine and returns them as set aside. If the store
/// cannot move them they are still skipped and listed (and set aside at the next start).
pub fn set_aside(store: &mut dyn Store, records: &[Quarantine]) -> Vec<Quarantined> {
    if records.is_empty() {
        return Vec::new();
    }
    match store.quarantine(records) {
        Ok(moved) => moved,
        Err(e) => {
            tracing::error!(error = %e, records = records.len(), "cannot move records into the quarantine; skipping them anyway");
            records
                .iter()
                .map(|q| Quarantined {
                    table: q.key.table().to_string(),
                    key: q.key.to_string(),
                    reason: q.reason.clone(),
                    record: String::new(),
                    at: q.at,
                })
                .collect()
        }
    }
}

/// Logs what is in quarantine, at every start until an operator deals with it.
pub fn report(records: &[Quarantined]) {
    for q in records.iter().take(LOGGED) {
        tracing::warn!(table = %q.table, key = %q.key, reason = %q.reason, quarantined_at_ms = q.at,
            "stored record in quarantine: not restored");
    }
    if !records.is_empty() {
        tracing::warn!(
            records = records.len(),
            logged = records.len().min(LOGGED),
            "the store holds records that cannot be restored; they are kept in its quarantine and skipped \
             (list them with `weftctl admin quarantine`)"
        );
    }
}

/// The listing, built once at start with each record cut to [`RECORD_EXCERPT_BYTES`].
pub fn listing(records: Vec<Quarantined>) -> Arc<[pb::QuarantinedRecord]> {
    records
        .into_iter()
        .map(|q| {
            let record_bytes = q.record.len() as u64;
            let mut record = q.record;
            let mut cut = record.len().min(RECORD_EXCERPT_BYTES);
            while !record.is_char_boundary(cut) {
                cut -= 1;
            }
            record.truncate(cut);
            pb::QuarantinedRecord {
                table: q.table,
                key: q.key,
                reason: q.reason,
                record,
                record_bytes,
                quarantined_at_ms: q.at,
            }
        })
        .collect()
}

/// One page of the listing. The page token is the offset of the next record.
pub fn page(
    records: &[pb::QuarantinedRecord],
    req: &pb::ListQuarantinedRequest,
) -> Result<pb::ListQuarantinedResponse, Status> {
    let from = match req.page_token.as_str() {
        "" => 0,
        token => token.parse::<usize>().ok().filter(|&n| n <= records.len()).ok_or_else(|| {
            Status::invalid_argument(format!("page_token `{token}` was not given by this coordinator"))
        })?,
    };
    let size = match req.page_size {
        0 => 100,
        n => n.min(1000) as usize,
    };
    let to = (from + size).min(records.len());
    Ok(pb::ListQuarantinedResponse {
        records: records[from..to].to_vec(),
        next_page_token: if to < records.len() { to.to_string() } else { String::new() },
        total: records.len() as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(n: usize, record: String) -> Quarantined {
        Quarantined { table: "runs".into(), key: format!("k{n}"), reason: "r".into(), record, at: n as i64 }
    }

    #[test]
    fn records_are_cut_on_a_char_boundary_and_paged() {
        let big = "é".repeat(RECORD_EXCERPT_BYTES);
        let list = listing((0..250).map(|n| q(n, if n == 0 { big.clone() } else { "{}".into() })).collect());
        assert!(list[0].record.len() <= RECORD_EXCERPT_BYTES && list[0].record.len() > RECORD_EXCERPT_BYTES - 2);
        assert_eq!(list[0].record_bytes, big.len() as u64);
        assert_eq!(list[1].record_bytes, 2);

        let mut token = String::new();
        let mut keys = Vec::new();
        loop {
            let p = page(&list, &pb::ListQuarantinedRequest { page_size: 0, page_token: token }).unwrap();
            assert_eq!(p.total, 250);
            assert!(p.records.len() <= 100);
            keys.extend(p.records.into_iter().map(|r| r.key));
            if p.next_page_token.is_empty() {
                break;
            }
            token = p.next_page_token;
        }
        assert_eq!(keys, (0..250).map(|n| format!("k{n}")).collect::<Vec<_>>());
        for bad in ["x", "251", "-1"] {
            let req = pb::ListQuarantinedRequest { page_size: 1, page_token: bad.into() };
            assert_eq!(page(&list, &req).unwrap_err().code(), tonic::Code::InvalidArgument);
        }
        let empty = page(&[], &pb::ListQuarantinedRequest::default()).unwrap();
        assert!(empty.records.is_empty() && empty.next_page_token.is_empty());
    }
}
