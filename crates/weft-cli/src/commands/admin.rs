//! Operators' commands: `admin quarantine`.
use super::Context;
use crate::cli::AdminCommand;
use crate::exit;
use crate::output::{OutputFormat, out, print_json};
use crate::views::admin::{QuarantinedView, quarantine_table};

pub async fn admin(ctx: &Context, what: AdminCommand) -> anyhow::Result<u8> {
    match what {
        AdminCommand::Quarantine => quarantine(ctx).await,
    }
}

async fn quarantine(ctx: &Context) -> anyhow::Result<u8> {
    let client = ctx.connect().await?;
    let records = client.list_quarantined().await?;
    match ctx.output {
        OutputFormat::Table if records.is_empty() => eprintln!("no records in quarantine"),
        OutputFormat::Table => out(&quarantine_table(&records).render())?,
        OutputFormat::Json => print_json(&records.iter().map(QuarantinedView::new).collect::<Vec<_>>())?,
    }
    Ok(exit::OK)
}
