//! An in-memory store: same behaviour as a durable backend, minus the durability.
use std::collections::BTreeMap;

use crate::{Batch, Error, RunEvent, Snapshot, Store, StoredDefinition, StoredRun, StoredTask};
use weft_model::RunId;

#[derive(Debug, Default)]
pub struct MemoryStore {
    definitions: BTreeMap<(String, u32), StoredDefinition>,
    runs: BTreeMap<RunId, StoredRun>,
    tasks: BTreeMap<(RunId, u32), StoredTask>,
    events: BTreeMap<(RunId, u64), RunEvent>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
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
        for d in &batch.definitions {
            self.definitions.insert((d.name.to_string(), d.version), d.clone());
        }
        for r in &batch.runs {
            self.runs.insert(r.id, r.clone());
        }
        for t in &batch.tasks {
            self.tasks.insert((t.run, t.index), t.clone());
        }
        for e in &batch.events {
            self.events.insert((e.run, e.seq), e.clone());
        }
        for id in &batch.expired {
            self.runs.remove(id);
            self.tasks.retain(|(run, _), _| run != id);
            self.events.retain(|(run, _), _| run != id);
        }
        Ok(())
    }

    fn load(&mut self) -> Result<Snapshot, Error> {
        Ok(Snapshot {
            definitions: self.definitions.values().cloned().collect(),
            runs: self.runs.values().cloned().collect(),
            tasks: self.tasks.values().cloned().collect(),
            events: self.events.values().cloned().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_store_conforms() {
        crate::conformance::run_all(&mut |_| Box::new(super::MemoryStore::new()), false);
    }
}
