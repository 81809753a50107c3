//! Posture findings: where an identity breaks least privilege or lifecycle hygiene, with the
//! evidence, the remediation and the framework controls each break maps to.
//!
//! Findings are derived from the current inventory each time they are asked for, so a fixed
//! problem disappears by itself; an accepted finding shows as accepted until its end date and
//! then reopens. Retired and revoked identities are not evaluated.

pub mod rules;
pub mod template;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::inventory::{text_enum, Environment};

text_enum! {
    /// How bad a finding is.
    Severity {
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
}

/// Whether a finding needs action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    Open,
    /// Accepted as a risk until `accepted_until`.
    Accepted,
}

/// One finding about one identity.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct Finding {
    /// Stable id: `<rule>:<identity_id>`.
    pub id: String,
    pub rule: &'static str,
    pub severity: Severity,
    #[ts(type = "number")]
    pub identity_id: i64,
    pub client_id: String,
    pub environment: Environment,
    pub name: String,
    /// What was seen, specifically.
    pub evidence: String,
    /// What to do about it.
    pub remediation: &'static str,
    /// Control ids: `NHI5:2025`, `PR.AA-05`, ...
    // One list, shared by the findings of a rule.
    #[ts(as = "Vec<String>")]
    pub frameworks: Arc<[String]>,
    pub status: FindingStatus,
    pub accepted_until: Option<String>,
}

/// Appends a finding's id, `<rule>:<identity_id>`, to `out`.
pub fn push_finding_id(out: &mut String, rule: &str, identity_id: i64) {
    out.push_str(rule);
    out.push(':');
    out.push_str(itoa::Buffer::new().format(identity_id));
}

/// A finding whose text is borrowed (from the identity it is about, its rule's controls):
/// what an export writes, without a copy of its own.
#[derive(Debug, Clone, Copy)]
pub struct FindingView<'a> {
    pub rule: &'static str,
    pub severity: Severity,
    pub identity_id: i64,
    pub client_id: &'a str,
    pub environment: Environment,
    pub name: &'a str,
    pub evidence: &'a str,
    pub remediation: &'static str,
    /// The rule's controls, shared by its findings.
    pub frameworks: Option<&'a Arc<[String]>>,
    pub status: FindingStatus,
    pub accepted_until: Option<&'a str>,
}

impl Finding {
    pub fn view(&self) -> FindingView<'_> {
        FindingView {
            rule: self.rule,
            severity: self.severity,
            identity_id: self.identity_id,
            client_id: &self.client_id,
            environment: self.environment,
            name: &self.name,
            evidence: &self.evidence,
            remediation: self.remediation,
            frameworks: Some(&self.frameworks),
            status: self.status,
            accepted_until: self.accepted_until.as_deref(),
        }
    }
}

impl FindingView<'_> {
    /// The finding with text of its own (its rule's controls still shared).
    pub fn to_finding(&self) -> Finding {
        self.with_evidence(self.evidence.to_string())
    }

    /// [`FindingView::to_finding`], given its evidence already owned.
    pub fn with_evidence(&self, evidence: String) -> Finding {
        let mut id = String::with_capacity(self.rule.len() + 21);
        push_finding_id(&mut id, self.rule, self.identity_id);
        Finding {
            id,
            rule: self.rule,
            severity: self.severity,
            identity_id: self.identity_id,
            client_id: self.client_id.to_string(),
            environment: self.environment,
            name: self.name.to_string(),
            evidence,
            remediation: self.remediation,
            frameworks: self.frameworks.cloned().unwrap_or_default(),
            status: self.status,
            accepted_until: self.accepted_until.map(str::to_string),
        }
    }
}

/// One rule-to-control row of the framework mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Mapping {
    pub rule: String,
    pub framework: String,
    pub control: String,
}

/// Which findings to list.
#[derive(Debug, Clone, Default, Deserialize, TS)]
#[serde(default)]
pub struct FindingFilter {
    #[ts(type = "number | null")]
    pub identity_id: Option<i64>,
    pub rule: Option<String>,
    pub severity: Option<Severity>,
    /// Include accepted findings (default: open only).
    pub include_accepted: bool,
}

/// One day of the least-privilege series.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct PosturePoint {
    pub day: String,
    pub least_privilege_pct: f64,
    #[ts(type = "number")]
    pub open_findings: i64,
    #[ts(type = "number")]
    pub identities: i64,
}
