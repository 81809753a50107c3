//! `steward findings`: posture findings, risks accepted and the rule-to-control mapping.

use clap::{Args, Subcommand};

use steward::api::{self, IdentityRef};
use steward::audit::Actor;
use steward::inventory::Environment;
use steward::policy::{FindingFilter, Severity};
use steward::{time, Error, Store};

use super::{parse_time, Output};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(super) struct FindingsArgs {
    #[command(subcommand)]
    action: Option<FindingsCommand>,
    /// Only this identity (id, or client_id with --environment).
    #[arg(long)]
    identity: Option<String>,
    #[arg(long)]
    environment: Option<Environment>,
    /// Only this rule.
    #[arg(long)]
    rule: Option<String>,
    /// low, medium, high or critical.
    #[arg(long)]
    severity: Option<Severity>,
    /// Include findings accepted as risks.
    #[arg(long)]
    all: bool,
    /// Evaluate as of this time (RFC 3339; default now).
    #[arg(long, value_parser = parse_time)]
    now: Option<time::Timestamp>,
}

#[derive(Subcommand)]
enum FindingsCommand {
    /// Accept a finding as a risk until a date.
    Accept {
        /// The finding id (rule:identity_id).
        finding: String,
        /// RFC 3339 time or YYYY-MM-DD.
        #[arg(long, value_parser = parse_time)]
        until: time::Timestamp,
        #[arg(long)]
        reason: String,
        /// Refused unless it names the signed-in person, who accepts the risk (never the
        /// identity's owner).
        #[arg(long)]
        approver: Option<String>,
    },
    /// The rule-to-control mapping (OWASP NHI Top 10 2025, NIST CSF 2.0).
    Mapping,
}

pub(super) async fn findings(
    f: FindingsArgs,
    store: &Store,
    now: time::Timestamp,
    actor: &Actor,
    out: &Output,
) -> Result<(), Error> {
    match f.action {
        Some(FindingsCommand::Accept {
            finding,
            until,
            reason,
            approver,
        }) => {
            let done = api::finding_accept(
                store,
                now,
                actor,
                &finding,
                until,
                &reason,
                approver.as_deref(),
            )
            .await?;
            out.one(&done, || {
                format!(
                    "{} accepted until {}",
                    done.id,
                    done.accepted_until.as_deref().unwrap_or("-")
                )
            })
        }
        Some(FindingsCommand::Mapping) => {
            let rows = api::framework_mapping(store).await?;
            out.table(
                &rows,
                &["RULE", "FRAMEWORK", "CONTROL"],
                rows.iter()
                    .map(|m| vec![m.rule.clone(), m.framework.clone(), m.control.clone()]),
            )
        }
        None => {
            let identity_id = match f.identity {
                Some(key) => {
                    let d = api::identity_show(
                        store,
                        &IdentityRef {
                            key,
                            environment: f.environment,
                        },
                    )
                    .await?;
                    Some(d.identity.id)
                }
                None => None,
            };
            let filter = FindingFilter {
                identity_id,
                rule: f.rule,
                severity: f.severity,
                include_accepted: f.all,
            };
            let list = api::findings_list(store, f.now.unwrap_or(now), &filter).await?;
            out.table(
                &list,
                &[
                    "SEVERITY", "RULE", "IDENTITY", "ENV", "EVIDENCE", "CONTROLS",
                ],
                list.iter().map(|x| {
                    vec![
                        x.severity.to_string(),
                        x.rule.to_string(),
                        format!("{} [{}]", x.client_id, x.identity_id),
                        x.environment.to_string(),
                        x.evidence.clone(),
                        x.frameworks.join(" "),
                    ]
                }),
            )
        }
    }
}
