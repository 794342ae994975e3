//! Schedule and cluster-wide limit commands, applied by the driver to the engine like every other change: the
//! answer leaves once the change it describes is durable.
use weft_model::Millis;
use weft_model::schedule::ScheduleSpec;
use weft_proto::pb;

use super::{Driver, Reply};
use crate::convert::schedule_to_pb;

pub enum ConfigCommand {
    Put {
        spec: ScheduleSpec,
        reply: Reply<pb::Schedule>,
    },
    /// Schedules by name after `after`, at most `limit`: (page, next page token).
    List {
        after: Option<String>,
        limit: usize,
        reply: Reply<(Vec<pb::Schedule>, String)>,
    },
    SetPaused {
        name: String,
        paused: bool,
        reply: Reply<pb::Schedule>,
    },
    Delete {
        name: String,
        reply: Reply<()>,
    },
    SetLimit {
        name: String,
        limit: weft_model::gates::LimitSpec,
        reply: Reply<pb::ClusterLimit>,
    },
    ListLimits {
        reply: Reply<Vec<pb::ClusterLimit>>,
    },
    DeleteLimit {
        name: String,
        reply: Reply<()>,
    },
}

fn limit_to_pb(name: &str, l: &weft_model::gates::LimitSpec) -> pb::ClusterLimit {
    pb::ClusterLimit {
        name: name.to_string(),
        limit: Some(pb::Limit { concurrency: l.concurrency, rate: l.rate.map(|r| r.to_string()).unwrap_or_default() }),
    }
}

impl Driver {
    pub(super) fn apply_config(&mut self, cmd: ConfigCommand, now: Millis) {
        match cmd {
            ConfigCommand::Put { spec, reply } => {
                let result = self.engine.put_schedule(spec, now).map(schedule_to_pb);
                if let Ok(s) = &result {
                    let spec = s.spec.as_ref();
                    tracing::info!(
                        schedule = %spec.map_or("", |s| s.name.as_str()),
                        cron = %spec.map_or("", |s| s.cron.as_str()),
                        "schedule put"
                    );
                }
                self.answer(reply, result);
            }
            ConfigCommand::List { after, limit, reply } => {
                let page: Vec<_> = self
                    .engine
                    .schedules()
                    .filter(|s| after.as_deref().is_none_or(|a| s.spec.name.as_str() > a))
                    .take(limit + 1)
                    .collect();
                let more = page.len() > limit;
                let page: Vec<pb::Schedule> = page.into_iter().take(limit).map(schedule_to_pb).collect();
                let token = match (more, page.last().and_then(|s| s.spec.as_ref())) {
                    (true, Some(spec)) => spec.name.clone(),
                    _ => String::new(),
                };
                self.answer(reply, Ok((page, token)));
            }
            ConfigCommand::SetPaused { name, paused, reply } => {
                let result = self.engine.set_schedule_paused(&name, paused, now).map(schedule_to_pb);
                self.answer(reply, result);
            }
            ConfigCommand::Delete { name, reply } => {
                let result = self.engine.delete_schedule(&name);
                self.answer(reply, result);
            }
            ConfigCommand::SetLimit { name, limit, reply } => {
                let result = self.engine.set_limit(&name, limit.clone()).map(|()| limit_to_pb(&name, &limit));
                self.answer(reply, result);
            }
            ConfigCommand::ListLimits { reply } => {
                let all = self.engine.cluster_limits().map(|(n, l)| limit_to_pb(n, l)).collect();
                self.answer(reply, Ok(all));
            }
            ConfigCommand::DeleteLimit { name, reply } => {
                let result = self.engine.delete_limit(&name);
                self.answer(reply, result);
            }
        }
    }
}
