//! `--print-config`: what a binary was given, flag by flag, and where each value came from
//! (the command line, a `WEFT_*` variable, or the default), as one JSON object on stdout.
//! Operators check a deployment's flags and variables with it (a misspelt variable is
//! otherwise silently ignored), and the compose test checks docker-compose.yml with it.
use clap::parser::ValueSource;
use clap::{ArgMatches, Command};
use serde_json::{Map, Value, json};

/// The report of `matches`, parsed by `command`: `{"flag": {"value": ..., "from": ...}}`
/// for every flag that has a value (several values as a list), `from` being `command line`,
/// `env WEFT_X` or `default`. Secrets (flags whose values `--help` hides too) show only
/// that they are set.
pub fn config_report(command: &Command, matches: &ArgMatches) -> Value {
    let mut report = Map::new();
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if matches!(id, "help" | "version" | "print_config") {
            continue;
        }
        let Some(source) = matches.value_source(id) else { continue };
        let from = match source {
            ValueSource::CommandLine => "command line".to_string(),
            ValueSource::EnvVariable => {
                format!("env {}", arg.get_env().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default())
            }
            _ => "default".to_string(),
        };
        let values: Vec<String> =
            matches.get_raw(id).map(|raw| raw.map(|v| v.to_string_lossy().into_owned()).collect()).unwrap_or_default();
        let secret = arg.is_hide_env_values_set();
        let value = match (secret, values.as_slice()) {
            (true, _) => json!("(set)"),
            (false, [one]) => json!(one),
            (false, many) => json!(many),
        };
        let name = arg.get_long().unwrap_or(id).to_string();
        report.insert(name, json!({ "value": value, "from": from }));
    }
    Value::Object(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn command() -> Command {
        Command::new("t")
            .arg(Arg::new("slots").long("slots").env("WEFT_TEST_REPORT_SLOTS").default_value("1"))
            .arg(Arg::new("queues").long("queues").value_delimiter(',').action(ArgAction::Append))
            .arg(Arg::new("token").long("token").hide_env_values(true))
            .arg(Arg::new("log").long("log").default_value("info"))
    }

    #[test]
    fn each_value_says_where_it_came_from_and_secrets_stay_hidden() {
        let matches = command().get_matches_from(["t", "--queues", "a,b", "--token", "s3cret"]);
        let report = config_report(&command(), &matches);
        assert_eq!(report["queues"], json!({ "value": ["a", "b"], "from": "command line" }));
        assert_eq!(report["token"], json!({ "value": "(set)", "from": "command line" }));
        assert_eq!(report["log"], json!({ "value": "info", "from": "default" }));
        assert_eq!(report["slots"]["from"], "default");
    }
}
