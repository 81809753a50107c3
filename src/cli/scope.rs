//! `steward scope`: SMART scopes parsed, checked against a request, explained and compared,
//! with no database.

use std::process::ExitCode;

use clap::Subcommand;

use steward::api::{self, ScopeInfo};
use steward::scope::{allows, Context, Request, ScopeSet};
use steward::Error;

use super::{json_error, yes_no, Output};

#[derive(Subcommand)]
pub(super) enum ScopeCommand {
    /// Parse scopes; with --json, one object per line:
    /// {"scope","valid","context","resource","perms","query","error",...}.
    Parse {
        #[arg(required = true)]
        scopes: Vec<String>,
    },
    /// Whether granted scopes allow a FHIR REST request ("METHOD PATH", after --). Prints
    /// {"allowed","by","reason"} and exits 0 either way; exits 2 on unparseable input.
    Allows {
        /// Space-separated granted scopes.
        #[arg(long)]
        granted: String,
        /// patient, user or system (default: any; bulk export defaults to system).
        #[arg(long)]
        context: Option<Context>,
        /// e.g. "GET Observation?patient=1"
        request: String,
    },
    /// One plain-language sentence per scope, with its risk traits.
    Explain {
        #[arg(required = true)]
        scopes: Vec<String>,
    },
    /// What granted scopes add beyond approved ones, and the risk of each.
    Diff {
        #[arg(long)]
        approved: String,
        #[arg(long)]
        granted: String,
    },
}

/// Exit status for input the scope commands cannot read.
const UNPARSEABLE: u8 = 2;

/// Each scope of each argument (an argument may hold several, space-separated).
fn scope_infos(args: &[String]) -> Vec<ScopeInfo> {
    args.iter()
        .flat_map(|s| s.split_whitespace())
        .map(api::scope_info)
        .collect()
}

pub(super) fn scope(c: ScopeCommand, out: &Output) -> Result<ExitCode, Error> {
    match c {
        ScopeCommand::Parse { scopes } => {
            let infos = scope_infos(&scopes);
            if out.json {
                for i in &infos {
                    say!("{}", serde_json::to_string(i).map_err(json_error)?);
                }
            } else {
                out.table(
                    &infos,
                    &["SCOPE", "VALID", "CANONICAL", "MEANING"],
                    infos.iter().map(|i| {
                        vec![
                            i.scope.clone(),
                            yes_no(i.valid),
                            i.canonical.clone().unwrap_or_else(|| "-".into()),
                            i.explanation.clone(),
                        ]
                    }),
                )?;
            }
        }
        ScopeCommand::Allows {
            granted,
            context,
            request,
        } => {
            let set = ScopeSet::parse(&granted);
            if let Some(bad) = set.invalid().first() {
                eprintln!("error: --granted: {bad}");
                return Ok(ExitCode::from(UNPARSEABLE));
            }
            let request = match Request::parse(&request) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: request: {e}");
                    return Ok(ExitCode::from(UNPARSEABLE));
                }
            };
            let decision = allows(&set, context, &request);
            say!("{}", serde_json::to_string(&decision).map_err(json_error)?);
        }
        ScopeCommand::Explain { scopes } => {
            let infos = scope_infos(&scopes);
            out.one(&infos, || {
                infos
                    .iter()
                    .map(|i| {
                        let traits: Vec<String> =
                            i.traits.iter().map(|t| format!("{t:?}")).collect();
                        let name = i.canonical.as_deref().unwrap_or(&i.scope);
                        if traits.is_empty() {
                            format!("{name}: {}", i.explanation)
                        } else {
                            format!("{name}: {} [{}]", i.explanation, traits.join(", "))
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        ScopeCommand::Diff { approved, granted } => {
            let d = api::scope_diff(&approved, &granted);
            out.one(&d, || {
                let list = |v: &[String]| if v.is_empty() { "(none)".to_string() } else { v.join(" ") };
                format!(
                    "granted beyond approved:  {}\napproved but not granted: {}\ngranted risk:  {} ({})\napproved risk: {} ({}){}",
                    list(&d.beyond_approved),
                    list(&d.approved_not_granted),
                    d.granted_risk.score,
                    d.granted_risk.tier,
                    d.approved_risk.score,
                    d.approved_risk.tier,
                    if d.invalid.is_empty() {
                        String::new()
                    } else {
                        format!("\nnot SMART scopes: {}", d.invalid.join(" "))
                    }
                )
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
