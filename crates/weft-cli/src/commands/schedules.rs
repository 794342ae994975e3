//! `weftctl schedule add|list|pause|resume|delete`.
use super::Context;
use crate::cli::{CatchUpArg, LimitCommand, OverlapArg, ScheduleAddArgs, ScheduleCommand};
use crate::exit;
use crate::output::{OutputFormat, out, print_json};
use crate::views::schedules::{ScheduleView, schedule_line, schedules_table};
use weft_client::pb;

pub async fn run(ctx: &Context, what: ScheduleCommand) -> anyhow::Result<u8> {
    let client = ctx.connect().await?;
    let shown = match what {
        ScheduleCommand::Add(args) => vec![client.put_schedule(spec_of(args)).await?],
        ScheduleCommand::List => {
            let all = client.list_schedules().await?;
            if all.is_empty() && ctx.output == OutputFormat::Table {
                eprintln!("no schedules");
                return Ok(exit::OK);
            }
            all
        }
        ScheduleCommand::Pause { name } => vec![client.set_schedule_paused(&name, true).await?],
        ScheduleCommand::Resume { name } => vec![client.set_schedule_paused(&name, false).await?],
        ScheduleCommand::Delete { name } => {
            client.delete_schedule(&name).await?;
            eprintln!("schedule {name} deleted");
            return Ok(exit::OK);
        }
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    match ctx.output {
        OutputFormat::Json => print_json(&shown.iter().map(ScheduleView::new).collect::<Vec<_>>())?,
        OutputFormat::Table if shown.len() == 1 => out(&schedule_line(&shown[0], now))?,
        OutputFormat::Table => out(&schedules_table(&shown, now).render())?,
    }
    Ok(exit::OK)
}

fn spec_of(args: ScheduleAddArgs) -> pb::ScheduleSpec {
    let overlap = match args.overlap {
        OverlapArg::Skip => pb::ScheduleOverlap::Skip,
        OverlapArg::QueueOne => pb::ScheduleOverlap::QueueOne,
        OverlapArg::Allow => pb::ScheduleOverlap::Allow,
    };
    let catch_up = match args.catch_up {
        CatchUpArg::None => pb::ScheduleCatchUp::None,
        CatchUpArg::Latest => pb::ScheduleCatchUp::Latest,
        CatchUpArg::All => pb::ScheduleCatchUp::All,
    };
    pb::ScheduleSpec {
        name: args.name,
        cron: args.cron,
        timezone: args.timezone,
        definition: args.definition,
        version: args.version.unwrap_or(0),
        input_json: args.input.map(|v| v.to_string()).unwrap_or_default(),
        overlap: overlap as i32,
        catch_up: catch_up as i32,
        catch_up_window_ms: args.catch_up_window.as_millis().min(u128::from(u64::MAX)) as u64,
    }
}

/// `weftctl limit set|list|delete`.
pub async fn limits(ctx: &Context, what: LimitCommand) -> anyhow::Result<u8> {
    let client = ctx.connect().await?;
    let shown = match what {
        LimitCommand::Set { name, concurrency, rate } => vec![client.set_limit(&name, concurrency, &rate).await?],
        LimitCommand::List => client.list_limits().await?,
        LimitCommand::Delete { name } => {
            client.delete_limit(&name).await?;
            eprintln!("limit {name} deleted");
            return Ok(exit::OK);
        }
    };
    let view = |l: &pb::ClusterLimit| {
        let limit = l.limit.clone().unwrap_or_default();
        serde_json::json!({ "name": l.name, "concurrency": limit.concurrency, "rate": (!limit.rate.is_empty()).then_some(limit.rate) })
    };
    match ctx.output {
        OutputFormat::Json => print_json(&shown.iter().map(view).collect::<Vec<_>>())?,
        OutputFormat::Table if shown.is_empty() => eprintln!("no limits"),
        OutputFormat::Table => {
            let mut table = crate::output::Table::new(&["name", "concurrency", "rate"]);
            for l in &shown {
                let limit = l.limit.clone().unwrap_or_default();
                table.row(vec![
                    l.name.clone(),
                    limit.concurrency.map(|c| c.to_string()).unwrap_or_default(),
                    limit.rate,
                ]);
            }
            out(&table.render())?;
        }
    }
    Ok(exit::OK)
}
