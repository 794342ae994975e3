//! Operators' commands: `admin quarantine`, `admin backup`, `admin init-certs`, `admin token new`.
use super::Context;
use crate::cli::{AdminCommand, TokenCommand};
use crate::exit;
use crate::output::{OutputFormat, out, print_json};
use crate::views::admin::{QuarantinedView, quarantine_table};

pub async fn admin(ctx: &Context, what: AdminCommand) -> anyhow::Result<u8> {
    match what {
        AdminCommand::Quarantine => quarantine(ctx).await,
        AdminCommand::Backup { file } => backup(ctx, &file).await,
        AdminCommand::InitCerts(args) => init_certs(ctx, args),
        AdminCommand::Token { what: TokenCommand::New { name, roles } } => new_token(ctx, &name, &roles),
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

/// A consistent copy of the running coordinator's store, written to `file`.
async fn backup(ctx: &Context, file: &std::path::Path) -> anyhow::Result<u8> {
    let copy = ctx.connect().await?.backup(file).await?;
    match ctx.output {
        OutputFormat::Table => out(&format!(
            "backed up {} bytes (schema version {}) to {}\n",
            copy.bytes,
            copy.schema_version,
            file.display()
        ))?,
        OutputFormat::Json => print_json(&serde_json::json!({
            "file": file, "bytes": copy.bytes, "schema_version": copy.schema_version
        }))?,
    }
    Ok(exit::OK)
}

/// Makes the CA and certificates ([`crate::certs`]); lists the files on stdout (JSON with
/// `-o json`) and how to use them on stderr.
fn init_certs(ctx: &Context, args: crate::cli::InitCertsArgs) -> anyhow::Result<u8> {
    if args.if_missing && crate::certs::has_ca(&args.dir) {
        eprintln!("{} already holds a CA (ca.crt): nothing made", args.dir.display());
        return Ok(exit::OK);
    }
    let plan = crate::certs::Plan { hosts: args.hosts, clients: args.clients, days: args.days };
    let made = crate::certs::make(&args.dir, &plan)?;
    match ctx.output {
        OutputFormat::Table => out(&made.files().iter().map(|f| format!("{}\n", f.display())).collect::<String>())?,
        OutputFormat::Json => print_json(&serde_json::json!({
            "ca": made.ca_cert,
            "coordinator": { "cert": made.server_cert, "key": made.server_key, "hosts": plan.hosts },
            "clients": made.clients.iter().map(|(name, cert, key)| {
                serde_json::json!({ "name": name, "cert": cert, "key": key })
            }).collect::<Vec<_>>(),
        }))?,
    }
    let dir = args.dir.display();
    eprintln!("made a CA and certificates in {dir} (private keys 0600; keep ca.key offline). Then:");
    eprintln!(
        "  weft-coordinator --tls-cert {dir}/coordinator.crt --tls-key {dir}/coordinator.key --tls-client-ca {dir}/ca.crt"
    );
    if let Some((name, _, _)) = made.clients.iter().find(|(name, _, _)| name != "weftctl") {
        eprintln!(
            "  weft-worker --coordinator https://HOST:7070 --tls-ca {dir}/ca.crt --tls-cert {dir}/{name}.crt --tls-key {dir}/{name}.key"
        );
    }
    if made.clients.iter().any(|(name, _, _)| name == "weftctl") {
        eprintln!(
            "  weftctl --coordinator https://HOST:7070 --tls-ca {dir}/ca.crt --tls-cert {dir}/weftctl.crt --tls-key {dir}/weftctl.key workers"
        );
    }
    Ok(exit::OK)
}

/// Makes a token: the token and its tokens-file line on stdout (JSON with `-o json`), what
/// to do with them on stderr.
fn new_token(ctx: &Context, name: &str, roles: &[weft_net::auth::Role]) -> anyhow::Result<u8> {
    let roles = weft_net::auth::Roles::new(roles.iter().copied());
    let made = weft_net::auth::new_token(name, roles).map_err(|e| anyhow::anyhow!("{e}"))?;
    match ctx.output {
        OutputFormat::Table => out(&format!("token  {}\nline   {}\n", made.token, made.line))?,
        OutputFormat::Json => print_json(&serde_json::json!({
            "name": name,
            "roles": roles.to_string().split(',').collect::<Vec<_>>(),
            "token": made.token,
            "line": made.line,
        }))?,
    }
    eprintln!("the token is shown once: weft keeps only its hash. Give it to its user (weftctl reads WEFT_TOKEN or");
    eprintln!("--token-file; a worker WEFT_WORKER_TOKEN or --token-file), add the line to the coordinator's");
    eprintln!("--tokens file, and restart the coordinator.");
    Ok(exit::OK)
}
