//! The event commands: `fraiseql observers install` prints (or applies) the outbox and the
//! capture triggers; `fraiseql events replay` runs a subject's history from the JetStream
//! stream through a SQL handler, to rebuild a projection.

use crate::output::outln;
use crate::project::{load_config, DEFAULT_CONFIG};
use crate::{Failure, Outcome};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(crate) enum EventsCommand {
    /// Run the events stored on a subject through a SQL handler, oldest first (rebuilds a
    /// projection). Every event runs once, whatever live consumers handled.
    Replay(ReplayArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum ObserversCommand {
    /// Print the statements that install the outbox tables and the capture triggers of
    /// [[observers.rules]] (what `install_triggers = true` applies at start), or apply them.
    Install(InstallArgs),
}

#[derive(Debug, Args)]
pub(crate) struct InstallArgs {
    /// Config file.
    #[arg(long, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Only this database.
    #[arg(long)]
    database: Option<String>,
    /// Apply the statements (idempotent) instead of printing them.
    #[arg(long)]
    apply: bool,
}

pub(crate) async fn observers(command: ObserversCommand) -> Outcome {
    let ObserversCommand::Install(args) = command;
    let config = load_config(&args.config)?;
    let done = fraiseql_server::install_observers(&config, args.database.as_deref(), args.apply)
        .await
        .map_err(|e| match e {
            fraiseql_server::InstallFailure::Unreachable(_) => Failure {
                code: 3,
                error: e.into(),
            },
            fraiseql_server::InstallFailure::Invalid(_) => Failure::config(e),
        })?;
    for (database, statements) in done {
        if args.apply {
            outln!(
                "installed the outbox on database {database} ({} statements)",
                statements.len()
            )?;
        } else {
            outln!("-- database {database}")?;
            for statement in statements {
                outln!("{statement};\n")?;
            }
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// Config file ([observers] gives the NATS server and the stream).
    #[arg(long, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// The subject to replay (wildcards allowed: `events.order.>`).
    #[arg(long)]
    subject: String,
    /// From this time on: RFC 3339 (`2026-12-01T00:00:00Z`) or an age (`90s`, `15m`,
    /// `2h`, `7d`). Default: the whole history.
    #[arg(long)]
    since: Option<String>,
    /// The SQL handler each event is given to (as in [[observers.subscribe]]).
    #[arg(long)]
    handler: String,
    /// The database the handler lives in.
    #[arg(long, default_value = "primary")]
    database: String,
    /// For a database per tenant: the tenant whose database the handler runs in (only that
    /// tenant's events are replayed).
    #[arg(long)]
    tenant: Option<String>,
}

pub(crate) async fn run(command: EventsCommand) -> Outcome {
    let EventsCommand::Replay(args) = command;
    let config = load_config(&args.config)?;
    let since = match args.since.as_deref() {
        Some(text) => Some(
            parse_since(text, time::OffsetDateTime::now_utc())
                .map_err(|e| Failure::config(anyhow::anyhow!("--since `{text}`: {e}")))?,
        ),
        None => None,
    };
    let options = fraiseql_server::ReplayOptions {
        subject: args.subject,
        since,
        handler: args.handler,
        database: args.database,
        tenant: args.tenant,
    };
    match fraiseql_server::replay(&config, &options).await {
        Ok(n) => {
            outln!(
                "replayed {n} event(s) on {} through {}",
                options.subject,
                options.handler
            )?;
            Ok(())
        }
        Err(e @ fraiseql_server::ReplayError::Setup(_)) => Err(Failure::config(e)),
        Err(e) => Err(Failure::schema(e)),
    }
}

/// An RFC 3339 time, or an age before `now` (`90s`, `15m`, `2h`, `7d`).
fn parse_since(text: &str, now: time::OffsetDateTime) -> Result<time::OffsetDateTime, String> {
    if let Ok(t) = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
    {
        return Ok(t);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| "expected an RFC 3339 time or an age such as 15m".to_owned())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err("an age's unit is s, m, h or d".into()),
    };
    n.checked_mul(secs)
        .map(|s| now - time::Duration::seconds(s))
        .ok_or_else(|| "too far back".into())
}

#[cfg(test)]
mod tests {
    use super::parse_since;
    use time::macros::datetime;

    #[test]
    fn since_takes_times_and_ages() {
        let now = datetime!(2026-12-04 12:00 UTC);
        assert_eq!(parse_since("2h", now), Ok(datetime!(2026-12-04 10:00 UTC)));
        assert_eq!(parse_since("7d", now), Ok(datetime!(2026-11-27 12:00 UTC)));
        assert_eq!(
            parse_since("2026-12-01T00:00:00Z", now),
            Ok(datetime!(2026-12-01 0:00 UTC))
        );
        for bad in [
            "",
            "h",
            "2w",
            "-1h",
            "yesterday",
            "99999999999999999999d",
            "2026-13-01",
        ] {
            assert!(parse_since(bad, now).is_err(), "{bad}");
        }
    }
}
