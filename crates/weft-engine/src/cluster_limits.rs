//! Limits set for the whole cluster through the API (`weftctl limit set bank-api
//! --concurrency 5`): a task whose process does not declare a limit it `uses` takes a share
//! of the cluster's limit of that name, with every other process that does the same.
use std::collections::BTreeMap;
use std::sync::Arc;
use weft_model::ValidationError;
use weft_model::gates::LimitSpec;
use weft_model::validate::validate_limit;

use crate::{Engine, Error};
use weft_model::ProcessPlan;

/// Cluster-wide limits a coordinator keeps at most.
pub const MAX_CLUSTER_LIMITS: usize = 1_000;

/// One cluster-wide limit as stored: its bounds as JSON text.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredLimit {
    pub name: Arc<str>,
    pub spec_json: String,
}

#[derive(Debug, Default)]
pub(crate) struct ClusterLimits {
    pub(crate) by_name: BTreeMap<Arc<str>, LimitSpec>,
}

impl Engine {
    pub fn cluster_limits(&self) -> impl Iterator<Item = (&Arc<str>, &LimitSpec)> {
        self.cluster_limits.by_name.iter()
    }

    /// Sets (or changes) a cluster-wide limit; tasks waiting at it are looked at again.
    pub fn set_limit(&mut self, name: &str, spec: LimitSpec) -> Result<(), Error> {
        validate_limit(name, &spec)?;
        let key: Arc<str> = Arc::from(name);
        if !self.cluster_limits.by_name.contains_key(&key) && self.cluster_limits.by_name.len() >= MAX_CLUSTER_LIMITS {
            return Err(Error::FailedPrecondition(format!("{MAX_CLUSTER_LIMITS} limits already; delete one first")));
        }
        self.cluster_limits.by_name.insert(key.clone(), spec);
        self.dirty.mark_limit(key.clone());
        self.gates_changed(&key);
        Ok(())
    }

    /// Deletes a cluster-wide limit: tasks that use it then run without it.
    pub fn delete_limit(&mut self, name: &str) -> Result<(), Error> {
        let (key, _) = self
            .cluster_limits
            .by_name
            .remove_entry(name)
            .ok_or_else(|| Error::NotFound { what: "limit", id: name.into() })?;
        self.dirty.mark_limit(key.clone());
        self.gates_changed(&key);
        Ok(())
    }

    /// Stored limits, at start; ones that no longer read back are returned with the reason.
    pub fn restore_limits(&mut self, stored: Vec<StoredLimit>) -> Vec<(String, String)> {
        let mut refused = Vec::new();
        for s in stored {
            let spec: Result<LimitSpec, String> = serde_json::from_str(&s.spec_json).map_err(|e| e.to_string());
            match spec.and_then(|spec| validate_limit(&s.name, &spec).map(|()| spec).map_err(|e| e.to_string())) {
                Ok(spec) => {
                    self.cluster_limits.by_name.insert(s.name, spec);
                }
                Err(e) => refused.push((s.name.to_string(), e)),
            }
        }
        refused
    }

    pub(crate) fn stored_limit(&self, name: &Arc<str>) -> Option<StoredLimit> {
        let spec = self.cluster_limits.by_name.get(name)?;
        Some(StoredLimit { name: name.clone(), spec_json: serde_json::to_string(spec).unwrap_or_default() })
    }

    pub fn stored_limits(&self) -> Vec<StoredLimit> {
        self.cluster_limits.by_name.keys().filter_map(|n| self.stored_limit(n)).collect()
    }

    /// A run may start only if every cluster limit its tasks use exists (its field named).
    pub(crate) fn check_cluster_uses(&self, plan: &ProcessPlan) -> Result<(), Error> {
        for (i, tp) in plan.tasks.iter().enumerate() {
            for &l in tp.uses.iter() {
                let Some(limit) = plan.limits.get(l as usize) else { continue };
                if limit.cluster && !self.cluster_limits.by_name.contains_key(&limit.name) {
                    let w = tp.workflow as usize;
                    let t = i as u32 - plan.workflows.get(w).map_or(0, |w| w.tasks.start);
                    let field = format!("workflows[{w}].tasks[{t}].uses");
                    let message = format!(
                        "no limit `{}` in the process's `limits` nor the cluster's (`weftctl limit set`)",
                        limit.name
                    );
                    return Err(ValidationError::single(field, message).into());
                }
            }
        }
        Ok(())
    }
}
