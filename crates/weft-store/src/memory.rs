//! An in-memory store: same behaviour as a durable backend, minus the durability. It keeps
//! the records as the engine's [`StoredView`], which applies change sets the way every
//! backend must.
use crate::{Batch, Error, Quarantine, Quarantined, RecordKey, Snapshot, Store};
use weft_engine::StoredView;

#[derive(Debug, Default)]
pub struct MemoryStore {
    records: StoredView,
    quarantined: Vec<Quarantined>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the record out of the live ones, written as its Debug form.
    fn take(&mut self, key: &RecordKey) -> Option<String> {
        let r = &mut self.records;
        match key {
            RecordKey::Definition { name, version } => {
                r.definitions.remove(&(name.to_string(), *version)).map(|d| format!("{d:?}"))
            }
            RecordKey::Run(id) => r.runs.remove(id).map(|run| format!("{run:?}")),
            RecordKey::Task { run, index } => r.tasks.remove(&(*run, *index)).map(|t| format!("{t:?}")),
            RecordKey::Event { run, seq } => r.events.remove(&(*run, *seq)).map(|e| format!("{e:?}")),
        }
    }
}

impl Store for MemoryStore {
    fn info(&self) -> crate::StoreInfo {
        crate::StoreInfo {
            backend: "memory",
            durability: crate::Durability::None,
            location: String::new(),
            filesystem: String::new(),
            setting: String::new(),
        }
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), Error> {
        self.records.apply(batch);
        Ok(())
    }

    fn load(&mut self) -> Result<Snapshot, Error> {
        let r = &self.records;
        Ok(Snapshot {
            definitions: r.definitions.values().cloned().collect(),
            runs: r.runs.values().cloned().collect(),
            tasks: r.tasks.values().cloned().collect(),
            events: r.events.values().cloned().collect(),
            observations: r.observations.values().cloned().collect(),
            schedules: r.schedules.values().cloned().collect(),
            limits: r.limits.values().cloned().collect(),
            quarantined: self.quarantined.clone(),
        })
    }

    fn quarantine(&mut self, records: &[Quarantine]) -> Result<Vec<Quarantined>, Error> {
        let mut moved = Vec::new();
        for q in records {
            let Some(record) = self.take(&q.key) else { continue };
            moved.push(Quarantined {
                table: q.key.table().to_string(),
                key: q.key.to_string(),
                reason: q.reason.clone(),
                record,
                at: q.at,
            });
        }
        self.quarantined.extend(moved.iter().cloned());
        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_store_conforms() {
        crate::conformance::run_all(&mut |_| Box::new(super::MemoryStore::new()), false);
    }
}
