//! An in-memory store: same behaviour as a durable backend, minus the durability. It keeps
//! the records as the engine's [`StoredView`], which applies change sets the way every
//! backend must.
use crate::{Batch, Error, Snapshot, Store};
use weft_engine::StoredView;

#[derive(Debug, Default)]
pub struct MemoryStore {
    records: StoredView,
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
