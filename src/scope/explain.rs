//! Plain-language explanations and risk traits of scopes and scope sets.
//!
//! Risk traits and their points (each trait counts once per set, with the scopes that raise
//! it listed, so the score reads as a sum of reasons):
//!
//! | trait | points | raised by |
//! |---|---|---|
//! | `bulk_export` | 5 | `r` and `s` on `*` in any context, or on any type in `system/` |
//! | `system_level` | 4 | any `system/` scope |
//! | `wildcard_resource` | 3 | a `*` resource type |
//! | `delete` | 3 | `d` |
//! | `write` | 2 | `c`, `u` or `d` |
//! | `sensitive_unrestricted` | 2 | `r` or `s` without a query restriction on a sensitive type |
//! | `refresh` | 1 | `offline_access` or `online_access` |
//!
//! Sensitive types are those that routinely carry free text, attachments, genomic or consent
//! data, where a category or type restriction is the way to narrow access: Binary, Consent,
//! DiagnosticReport, DocumentReference, ImagingStudy, Media, MolecularSequence. Tiers: 0–3 low,
//! 4–8 medium, 9 and more high.

use serde::Serialize;
use ts_rs::TS;

use super::grammar::{Context, Perms, Resource, ResourceScope, Scope, Special};
use super::set::ScopeSet;

/// Types whose unrestricted read is flagged.
pub const SENSITIVE_TYPES: [&str; 7] = [
    "Binary",
    "Consent",
    "DiagnosticReport",
    "DocumentReference",
    "ImagingStudy",
    "Media",
    "MolecularSequence",
];

/// One reason a scope or set is risky.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum RiskTrait {
    BulkExport,
    SystemLevel,
    WildcardResource,
    Delete,
    Write,
    SensitiveUnrestricted,
    Refresh,
}

impl RiskTrait {
    pub fn points(self) -> u32 {
        match self {
            RiskTrait::BulkExport => 5,
            RiskTrait::SystemLevel => 4,
            RiskTrait::WildcardResource | RiskTrait::Delete => 3,
            RiskTrait::Write | RiskTrait::SensitiveUnrestricted => 2,
            RiskTrait::Refresh => 1,
        }
    }
}

/// The traits one scope has.
pub fn traits(scope: &Scope) -> Vec<RiskTrait> {
    let mut t = Vec::new();
    match scope {
        Scope::Special(Special::OfflineAccess | Special::OnlineAccess) => {
            t.push(RiskTrait::Refresh)
        }
        Scope::Special(_) => {}
        Scope::Resource(r) => {
            let reads = r.perms.contains(Perms::R.union(Perms::S));
            if reads && (r.resource == Resource::Any || r.context == Context::System) {
                t.push(RiskTrait::BulkExport);
            }
            if r.context == Context::System {
                t.push(RiskTrait::SystemLevel);
            }
            if r.resource == Resource::Any {
                t.push(RiskTrait::WildcardResource);
            }
            if r.perms.contains(Perms::D) {
                t.push(RiskTrait::Delete);
            }
            if !r.perms.minus(Perms::R).minus(Perms::S).is_empty() {
                t.push(RiskTrait::Write);
            }
            let sensitive = match &r.resource {
                Resource::Any => true,
                Resource::Type(name) => SENSITIVE_TYPES.contains(name),
            };
            let reads_any = r.perms.contains(Perms::R) || r.perms.contains(Perms::S);
            if sensitive && reads_any && r.query.is_none() {
                t.push(RiskTrait::SensitiveUnrestricted);
            }
        }
    }
    t
}

/// One trait of a set, its points and the scopes that raise it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct RiskReason {
    pub risk_trait: RiskTrait,
    pub points: u32,
    pub scopes: Vec<String>,
}

/// A set's explainable risk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct RiskReport {
    pub score: u32,
    /// `low`, `medium` or `high`.
    pub tier: String,
    pub reasons: Vec<RiskReason>,
}

/// Scores a set: the sum of the points of the traits present, each once.
pub fn risk(set: &ScopeSet) -> RiskReport {
    let mut reasons: Vec<RiskReason> = Vec::new();
    for scope in set.scopes() {
        for t in traits(&scope) {
            match reasons.iter_mut().find(|r| r.risk_trait == t) {
                Some(r) => r.scopes.push(scope.to_string()),
                None => reasons.push(RiskReason {
                    risk_trait: t,
                    points: t.points(),
                    scopes: vec![scope.to_string()],
                }),
            }
        }
    }
    reasons.sort_by_key(|r| (std::cmp::Reverse(r.points), r.risk_trait));
    let score = reasons.iter().map(|r| r.points).sum();
    let tier = match score {
        0..=3 => "low",
        4..=8 => "medium",
        _ => "high",
    };
    RiskReport {
        score,
        tier: tier.to_string(),
        reasons,
    }
}

fn perms_phrase(p: Perms) -> String {
    let words: Vec<&str> = p
        .bits()
        .map(|b| match b {
            Perms::C => "create",
            Perms::R => "read",
            Perms::U => "update",
            Perms::D => "delete",
            _ => "search",
        })
        .collect();
    let text = match words.as_slice() {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    };
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

fn resource_sentence(r: &ResourceScope) -> String {
    let what = match &r.resource {
        Resource::Any => "all resource types".to_string(),
        Resource::Type(t) => format!("{t} resources"),
    };
    let whose = match r.context {
        Context::Patient => "of the patient in context",
        Context::User => "that the signed-in user may access",
        Context::System => "on the server, for any patient, without a user (backend access)",
    };
    let mut s = format!("{} {what} {whose}", perms_phrase(r.perms));
    if let Some(q) = &r.query {
        let only: Vec<String> = q.0.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        s.push_str(&format!(" (only where {})", only.join(" and ")));
    }
    s.push('.');
    s
}

/// One plain-English sentence a reviewer understands.
pub fn explain(scope: &Scope) -> String {
    match scope {
        Scope::Resource(r) => resource_sentence(r),
        Scope::Special(s) => match s {
            Special::OpenId => "Sign the user in with OpenID Connect (an identity token).",
            Special::FhirUser => "Learn which FHIR resource (Patient, Practitioner, ...) is the signed-in user.",
            Special::Profile => "Read the signed-in user's profile (older spelling of fhirUser).",
            Special::Launch => "Receive the EHR's launch context, such as the patient and encounter in view.",
            Special::LaunchPatient => "Have a patient selected at launch when the app starts on its own.",
            Special::LaunchEncounter => "Have an encounter selected at launch when the app starts on its own.",
            Special::OfflineAccess => {
                "Get a refresh token that keeps working after the user logs out (long-lived access)."
            }
            Special::OnlineAccess => "Get a refresh token that works only while the user stays logged in.",
        }
        .to_string(),
    }
}
