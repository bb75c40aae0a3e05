//! `sc-host dispatch <skill>`: runs one skill once and prints its outcome.

use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::EXIT_USAGE;
use sc_backends as backends;
use sc_core::clock::SystemClock;
use sc_core::config::Config;
use sc_core::run::{RunRequest, Trigger};
use sc_runtime::{DispatchError, SkillHost};

/// Flags of `dispatch`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The skill id.
    pub skill: String,
    /// A parameter as key=value (the value is JSON when it parses, text otherwise); repeatable.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Parameters as a JSON object; `--param` entries are applied on top.
    #[arg(long, value_name = "JSON")]
    pub params_json: Option<String>,
    /// Run as if at this time (RFC 3339), e.g. to look at a past capture.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
}

/// Builds the parameter object from the flags.
pub fn parameters(args: &Args) -> Result<Value, String> {
    let mut object = match &args.params_json {
        None => Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err("--params-json must be a JSON object, e.g. '{\"hours\": 6}'".to_owned());
            }
            Err(err) => return Err(format!("--params-json is not valid JSON: {err}")),
        },
    };
    for param in &args.params {
        let Some((key, value)) = param.split_once('=') else {
            return Err(format!("--param `{param}` must look like key=value"));
        };
        if key.is_empty() {
            return Err(format!("--param `{param}` has an empty key"));
        }
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        object.insert(key.to_owned(), value);
    }
    Ok(Value::Object(object))
}

/// Runs `dispatch`.
pub fn run(config: Config, args: &Args) -> anyhow::Result<ExitCode> {
    let parameters = match parameters(args) {
        Ok(parameters) => parameters,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let now = match args
        .now
        .as_deref()
        .map(chrono::DateTime::parse_from_rfc3339)
    {
        None => None,
        Some(Ok(at)) => Some(at.with_timezone(&chrono::Utc)),
        Some(Err(err)) => {
            eprintln!("error: --now must be an RFC 3339 time such as 2022-06-12T22:00:00Z: {err}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    match run_once(config, &args.skill, parameters, now)? {
        Ok(report) => {
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::from(report.status.exit_code()))
        }
        Err(
            err @ (DispatchError::Unknown { .. }
            | DispatchError::BadParameters(_)
            | DispatchError::InvalidParameters { .. }),
        ) => {
            eprintln!("error: {err}");
            Ok(ExitCode::from(EXIT_USAGE))
        }
        Err(err) => {
            eprintln!("error: {err}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Runs `skill` once with `parameters` on a host loaded as the service
/// loads it; the outer error is the host's, the inner the run's.
pub fn run_once(
    config: Config,
    skill: &str,
    parameters: Value,
    now: Option<chrono::DateTime<chrono::Utc>>,
) -> anyhow::Result<Result<sc_core::run::RunReport, DispatchError>> {
    super::runtime()?.block_on(async {
        let config = Arc::new(config);
        let backends = backends::open(&config)?;
        // Every installed skill is loaded (compiled when the cache lacks
        // it), as the service does, so a refusal of another skill's files
        // is recorded for `list-skills` too.
        let host = SkillHost::new(config, backends, Arc::new(SystemClock))?;
        let loading = host.clone();
        tokio::task::spawn_blocking(move || loading.load_all()).await?;
        let mut request = RunRequest::new(skill, Trigger::Dispatch, parameters);
        request.now = now;
        Ok(host.run(request).await)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(params: &[&str], json: Option<&str>) -> Args {
        Args {
            skill: "x".into(),
            params: params.iter().map(|s| (*s).to_owned()).collect(),
            params_json: json.map(str::to_owned),
            now: None,
        }
    }

    #[test]
    fn params_are_typed_when_they_parse_as_json() {
        let value = parameters(&args(
            &["hours=6", "ip=10.0.0.1", "deep=true"],
            Some("{\"hours\":1,\"k\":2}"),
        ))
        .expect("params");
        assert_eq!(
            value,
            serde_json::json!({"hours": 6, "ip": "10.0.0.1", "deep": true, "k": 2})
        );
    }

    #[test]
    fn malformed_params_are_usage_errors() {
        assert!(parameters(&args(&["novalue"], None)).is_err());
        assert!(parameters(&args(&["=x"], None)).is_err());
        assert!(parameters(&args(&[], Some("[1]"))).is_err());
        assert!(parameters(&args(&[], Some("{"))).is_err());
    }
}
