//! The rules. Each looks at one identity (with what the whole inventory says about its
//! credentials and client_id) and returns what it found.

use rustc_hash::FxHashMap;

use chrono::Duration;

use super::template::{default_max_access_token_lifetime, Template};
use super::Severity;
use crate::inventory::IdentityRecord;
use crate::inventory::{CredentialKind, Environment, Kind, Status};
use crate::scope::{risk, Perms, Resource, RiskTrait, ScopeSet, Special};
use crate::time::{self, Timestamp};

/// Every rule id, in the order findings are reported.
pub const RULES: [&str; 25] = [
    "granted-beyond-approved",
    "beyond-template",
    "unjustified-approval",
    "owner-missing",
    "owner-departed",
    "purpose-missing",
    "token-lifetime",
    "refresh-on-backend",
    "offline-not-allowed",
    "secret-auth",
    "secret-stale",
    "credential-reuse",
    "client-id-reuse",
    "review-overdue",
    "never-reviewed",
    "reauthorization-pending",
    "dormant",
    "revocation-path-missing",
    "unknown-use-case",
    "revocation-ineffective",
    "unregistered-client",
    "server-no-revocation",
    "missing-on-server",
    "server-no-introspection",
    "revocation-untested",
];

/// Days without use before an active identity counts as dormant.
pub const DORMANT_DAYS: i64 = 90;
/// Days a client secret may go without rotation.
pub const SECRET_MAX_AGE_DAYS: i64 = 365;

/// A credential as the rules see it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct CredentialFacts {
    pub identity_id: i64,
    pub kind: CredentialKind,
    pub fingerprint: String,
    pub issued_at: Option<String>,
    pub rotated_at: Option<String>,
    pub expires_at: Option<String>,
}

/// Everything the rules look at for one identity.
pub struct Subject<'a> {
    pub record: &'a IdentityRecord,
    /// (name, active) of each owner.
    pub business_owner: Option<(&'a str, bool)>,
    pub technical_owner: Option<(&'a str, bool)>,
    pub approved: &'a ScopeSet,
    /// Approved scopes without a justification.
    pub unjustified: Vec<String>,
    pub granted: &'a ScopeSet,
    pub credentials: Vec<&'a CredentialFacts>,
    pub template: Option<&'a Template>,
    /// The template's scope limit, parsed once for all the identities it applies to.
    pub limit: Option<&'a ScopeSet>,
}

/// What an environment's authorization server publishes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerFacts {
    pub revocation: bool,
    pub introspection: bool,
}

/// An identity's drills: the newest one's outcome, and when one last passed.
#[derive(Debug, Clone, Default)]
pub struct DrillFacts {
    pub outcome: String,
    pub at: String,
    pub last_passed: Option<String>,
}

/// What the authorization servers say: read with the rest of the rules' inputs.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// The environments with a connection.
    pub servers: FxHashMap<Environment, ServerFacts>,
    /// identity -> `present`, `missing` or `unregistered`, as the last sync saw it.
    pub states: FxHashMap<i64, String>,
    pub drills: FxHashMap<i64, DrillFacts>,
    /// Days between drills for the high, medium and low review tiers.
    pub drill_days: [i64; 3],
}

/// What the whole inventory says, for the rules that compare identities.
#[derive(Default)]
pub struct Inventory<'a> {
    /// What the authorization servers say, when any is connected.
    pub live: Option<&'a Live>,
    /// fingerprint -> (identity id, client_id, environment) of every holder.
    pub holders: FxHashMap<&'a str, Vec<(i64, &'a str, Environment)>>,
    /// client_id -> environments it is registered in.
    pub client_envs: FxHashMap<&'a str, Vec<Environment>>,
}

/// One rule's verdict on one identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub rule: &'static str,
    pub severity: Severity,
    pub evidence: String,
    pub remediation: &'static str,
}

fn hit(rule: &'static str, severity: Severity, evidence: String, remediation: &'static str) -> Hit {
    Hit {
        rule,
        severity,
        evidence,
        remediation,
    }
}

fn older_than(t: Option<&str>, now: Timestamp, days: i64) -> bool {
    t.and_then(|t| time::parse(t).ok())
        .is_some_and(|t| now - t > Duration::days(days))
}

/// Runs every rule on one identity.
pub fn evaluate(s: &Subject<'_>, inv: &Inventory<'_>, now: Timestamp) -> Vec<Hit> {
    let r = s.record;
    let mut out = Vec::new();
    if matches!(r.status, Status::Retired | Status::Revoked) {
        return out;
    }
    let app = matches!(r.kind, Kind::PatientApp | Kind::ClinicianApp);

    let beyond = s.granted.difference(s.approved);
    if !beyond.is_empty() {
        let traits = risk(&beyond).reasons;
        let severity = if traits.iter().any(|t| {
            matches!(
                t.risk_trait,
                RiskTrait::Write
                    | RiskTrait::SystemLevel
                    | RiskTrait::WildcardResource
                    | RiskTrait::BulkExport
            )
        }) {
            Severity::High
        } else {
            Severity::Medium
        };
        out.push(hit(
            "granted-beyond-approved",
            severity,
            format!("granted beyond approval: {beyond}"),
            "Reduce the grant at the authorization server to the approved scopes, or have the owner justify and approve the extra access.",
        ));
    }

    match (&r.use_case, s.template) {
        (Some(key), None) => out.push(hit(
            "unknown-use-case",
            Severity::Low,
            format!("use case '{key}' is not a template"),
            "Choose one of the use-case templates (steward templates list) so its limits apply.",
        )),
        (_, Some(t)) => {
            let both = s.granted.union(s.approved);
            let mut problems = Vec::new();
            if let Some(limit) = s.limit {
                let extra = both.difference(limit);
                if !extra.is_empty() {
                    problems.push(format!("beyond the '{}' template: {extra}", t.key));
                }
            }
            // Named types beyond the template are caught above; what is left to check is a
            // wildcard read-and-search, which exports every type.
            let bulk = || {
                s.granted.resource_scopes().any(|x| {
                    x.resource == Resource::Any && x.perms.contains(Perms::R.union(Perms::S))
                })
            };
            if !t.allow_bulk_export && bulk() {
                problems.push(format!(
                    "bulk export capable, which '{}' does not allow",
                    t.key
                ));
            }
            let system: Vec<String> = both
                .resource_scopes()
                .filter(|x| x.context == crate::scope::Context::System)
                .map(|x| x.to_string())
                .collect();
            if app && !system.is_empty() {
                problems.push(format!(
                    "system-level scopes on a user-facing app: {}",
                    system.join(" ")
                ));
            }
            if !problems.is_empty() {
                let severity = if app && !system.is_empty() {
                    Severity::Critical
                } else {
                    Severity::High
                };
                out.push(hit(
                    "beyond-template",
                    severity,
                    problems.join("; "),
                    "Remove the scopes the purpose does not justify, or move the identity to a use case that does.",
                ));
            }
        }
        (None, None) => {}
    }

    if !s.unjustified.is_empty() {
        out.push(hit(
            "unjustified-approval",
            Severity::Medium,
            format!(
                "approved without a justification: {}",
                s.unjustified.join(" ")
            ),
            "Have the business owner state why each scope is needed, or remove it.",
        ));
    }

    let missing: Vec<&str> = [
        ("business", s.business_owner),
        ("technical", s.technical_owner),
    ]
    .iter()
    .filter(|(_, o)| o.is_none())
    .map(|(role, _)| *role)
    .collect();
    if !missing.is_empty() {
        out.push(hit(
            "owner-missing",
            Severity::High,
            format!("no {} owner", missing.join(" or ")),
            "Assign an accountable owner (steward identity set-owner).",
        ));
    }
    let departed: Vec<String> = [
        ("business", s.business_owner),
        ("technical", s.technical_owner),
    ]
    .iter()
    .filter_map(|(role, o)| {
        o.filter(|(_, active)| !active)
            .map(|(name, _)| format!("{role} owner {name}"))
    })
    .collect();
    if !departed.is_empty() {
        out.push(hit(
            "owner-departed",
            Severity::High,
            format!("{} has left the organization", departed.join(" and ")),
            "Reassign ownership to a current employee.",
        ));
    }

    if r.purpose.as_deref().is_none_or(|p| p.trim().is_empty()) {
        out.push(hit(
            "purpose-missing",
            Severity::Medium,
            "no purpose statement".into(),
            "Record the business need this identity serves (steward identity set-purpose).",
        ));
    }

    let limit = s
        .template
        .and_then(|t| t.max_access_token_lifetime_s)
        .unwrap_or_else(|| default_max_access_token_lifetime(r.kind));
    if let Some(lifetime) = r.access_token_lifetime_s.filter(|l| *l > limit) {
        out.push(hit(
            "token-lifetime",
            if lifetime > 86_400 {
                Severity::High
            } else {
                Severity::Medium
            },
            format!("access tokens live {lifetime} s; the policy allows {limit} s"),
            "Shorten the access token lifetime at the authorization server.",
        ));
    }

    let refresh = s.granted.has(Special::OfflineAccess) || s.granted.has(Special::OnlineAccess);
    if !app && (refresh || r.refresh_token_lifetime_s.is_some_and(|l| l > 0)) {
        out.push(hit(
            "refresh-on-backend",
            Severity::High,
            format!(
                "a {} holds refresh tokens ({})",
                r.kind,
                r.refresh_token_lifetime_s.map_or("offline_access granted".to_string(), |l| format!("{l} s"))
            ),
            "Backend services should get a new short-lived token with a signed assertion each time; disable refresh tokens.",
        ));
    }

    if app && s.granted.has(Special::OfflineAccess) {
        if let Some(t) = s.template.filter(|t| !t.allow_offline_access) {
            out.push(hit(
                "offline-not-allowed",
                Severity::Medium,
                format!("offline_access granted, which '{}' does not allow", t.key),
                "Remove offline_access from the grant.",
            ));
        }
    }

    if let (Some(method), Some(expected)) = (
        r.auth_method.as_deref(),
        s.template.and_then(|t| t.expected_auth_method.as_deref()),
    ) {
        if method.starts_with("client_secret") && method != expected {
            out.push(hit(
                "secret-auth",
                if r.environment == Environment::Production {
                    Severity::High
                } else {
                    Severity::Medium
                },
                format!("authenticates with {method}; the template expects {expected}"),
                "Register a key pair and switch the client to private_key_jwt.",
            ));
        }
    }

    for c in s
        .credentials
        .iter()
        .filter(|c| c.kind == CredentialKind::Secret)
    {
        let expired = c
            .expires_at
            .as_deref()
            .and_then(|t| time::parse(t).ok())
            .is_some_and(|t| t < now);
        let last_set = c.rotated_at.as_deref().or(c.issued_at.as_deref());
        if expired || older_than(last_set, now, SECRET_MAX_AGE_DAYS) {
            out.push(hit(
                "secret-stale",
                Severity::Medium,
                if expired {
                    format!("secret {} expired", short(&c.fingerprint))
                } else {
                    format!(
                        "secret {} not rotated for over {SECRET_MAX_AGE_DAYS} days",
                        short(&c.fingerprint)
                    )
                },
                "Rotate the secret, or better, replace it with a key pair.",
            ));
            break;
        }
    }

    for c in &s.credentials {
        let others: Vec<&(i64, &str, Environment)> = inv
            .holders
            .get(c.fingerprint.as_str())
            .map(|h| {
                h.iter()
                    .filter(|(id, _, env)| *id != r.id && *env != r.environment)
                    .collect()
            })
            .unwrap_or_default();
        if !others.is_empty() {
            let prod = r.environment == Environment::Production
                || others.iter().any(|(_, _, e)| *e == Environment::Production);
            let names: Vec<String> = others
                .iter()
                .map(|(_, cid, env)| format!("{cid} ({env})"))
                .collect();
            out.push(hit(
                "credential-reuse",
                if prod {
                    Severity::Critical
                } else {
                    Severity::High
                },
                format!(
                    "{} {} is also held by {}",
                    c.kind,
                    short(&c.fingerprint),
                    names.join(", ")
                ),
                "Issue a separate credential per environment and revoke the shared one.",
            ));
            break;
        }
    }

    if let Some(envs) = inv.client_envs.get(r.client_id.as_str()) {
        let others: Vec<&Environment> = envs.iter().filter(|e| **e != r.environment).collect();
        let crosses_prod =
            r.environment == Environment::Production || others.contains(&&Environment::Production);
        if !others.is_empty() && crosses_prod {
            let list: Vec<String> = others.iter().map(|e| e.to_string()).collect();
            out.push(hit(
                "client-id-reuse",
                Severity::High,
                format!("client_id '{}' is also registered in {}", r.client_id, list.join(", ")),
                "Register a separate client for each environment so production access is never shared.",
            ));
        }
    }

    match (
        r.last_reviewed_at.as_deref(),
        r.next_review_due
            .as_deref()
            .and_then(|d| time::parse(d).ok()),
    ) {
        (_, Some(due)) if due < now => {
            let late = (now - due).num_days();
            out.push(hit(
                "review-overdue",
                if late > 90 {
                    Severity::High
                } else {
                    Severity::Medium
                },
                format!("review was due {} ({late} days ago)", time::format(due)),
                "Recertify the identity's access.",
            ));
        }
        (None, _) => out.push(hit(
            "never-reviewed",
            Severity::Low,
            "never reviewed".into(),
            "Include the identity in the next recertification campaign.",
        )),
        _ => {}
    }

    if let Some(why) = &r.reauth_reason {
        out.push(hit(
            "reauthorization-pending",
            Severity::High,
            format!(
                "certification expired {}: {why}",
                r.reauth_since.as_deref().unwrap_or("-")
            ),
            "Review the change and certify, reduce or revoke the identity's access.",
        ));
    }

    if r.status == Status::Active {
        let last = r.last_used_at.as_deref().or(Some(r.created_at.as_str()));
        if older_than(last, now, DORMANT_DAYS) {
            out.push(hit(
                "dormant",
                Severity::Medium,
                match &r.last_used_at {
                    Some(t) => format!("active but last used {t}"),
                    None => format!("active, never used, registered {}", r.created_at),
                },
                "Suspend or retire it; if it is still needed, right-size its scopes to what it uses.",
            ));
        }
    }

    let server = inv.live.and_then(|l| l.servers.get(&r.environment));
    if r.revocation_endpoint
        .as_deref()
        .is_none_or(|e| e.trim().is_empty())
        && !server.is_some_and(|s| s.revocation)
    {
        out.push(hit(
            "revocation-path-missing",
            Severity::Medium,
            "no revocation endpoint recorded".into(),
            "Record how this identity's tokens and credentials are revoked, and drill it.",
        ));
    }
    if let (Some(live), Some(server)) = (inv.live, server) {
        live_rules(s, live, server, now, &mut out);
    }
    out
}

/// The rules over what the environment's authorization server says.
fn live_rules(
    s: &Subject<'_>,
    live: &Live,
    server: &ServerFacts,
    now: Timestamp,
    out: &mut Vec<Hit>,
) {
    let r = s.record;
    let env = r.environment;
    match live.states.get(&r.id).map(String::as_str) {
        Some("unregistered") if r.status == Status::Pending => out.push(hit(
            "unregistered-client",
            Severity::High,
            format!("the {env} server has this client, which nobody registered in the inventory"),
            "Find its owner and purpose and approve it, or delete the client at the server.",
        )),
        Some("missing") => out.push(hit(
            "missing-on-server",
            Severity::Medium,
            format!("the {env} server no longer knows this client"),
            "Retire the identity if the client was removed on purpose; otherwise find out who removed it.",
        )),
        _ => {}
    }
    if !server.revocation {
        out.push(hit(
            "server-no-revocation",
            Severity::High,
            format!("the {env} server publishes no revocation endpoint (RFC 7009): its tokens live until they expire"),
            "Enable token revocation at the authorization server, or keep token lifetimes short.",
        ));
    }
    if !server.introspection {
        out.push(hit(
            "server-no-introspection",
            Severity::Low,
            format!("the {env} server publishes no introspection endpoint (RFC 7662): a revocation cannot be seen to take effect"),
            "Enable token introspection so that revocation drills can prove a token dies.",
        ));
    }
    if !matches!(r.kind, Kind::BackendService | Kind::ServiceAccount) || r.status != Status::Active
    {
        return;
    }
    let drill = live.drills.get(&r.id);
    if let Some(d) = drill.filter(|d| d.outcome == "failed") {
        out.push(hit(
            "revocation-ineffective",
            Severity::Critical,
            format!("the revocation drill of {} failed: the revoked token stayed active or was still accepted", d.at),
            "Fix revocation at the authorization server (and the FHIR server's token check), then drill again.",
        ));
        return;
    }
    let tier = crate::review::tier(env, s.granted);
    let days = match tier {
        crate::review::Tier::High => live.drill_days[0],
        crate::review::Tier::Medium => live.drill_days[1],
        crate::review::Tier::Low => live.drill_days[2],
    };
    let passed = drill.and_then(|d| d.last_passed.as_deref());
    if passed.is_none_or(|p| older_than(Some(p), now, days)) {
        out.push(hit(
            "revocation-untested",
            Severity::Medium,
            match passed {
                Some(p) => format!(
                    "last passing revocation drill {p}: more than {days} days ({tier} tier)"
                ),
                None => format!("revocation never drilled ({tier} tier: every {days} days)"),
            },
            "Run a revocation drill (steward drill ID) with the client's credential.",
        ));
    }
}

fn short(fingerprint: &str) -> String {
    let (scheme, hex) = fingerprint.split_once(':').unwrap_or(("", fingerprint));
    format!("{scheme}:{}…", &hex[..hex.len().min(12)])
}
