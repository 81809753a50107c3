//! Use-case templates: the most a purpose justifies.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::inventory::Kind;
use crate::scope::ScopeSet;

/// A use-case template as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Template {
    pub key: String,
    pub name: String,
    pub description: String,
    pub kinds: Vec<Kind>,
    /// The scopes the purpose justifies at most; `None`: no template limit (`custom`).
    pub max_scopes: Option<Vec<String>>,
    pub allow_offline_access: bool,
    pub allow_bulk_export: bool,
    #[ts(type = "number | null")]
    pub max_access_token_lifetime_s: Option<i64>,
    pub expected_auth_method: Option<String>,
    pub updated_at: String,
}

impl Template {
    /// The template's scope limit as a set, if it has one.
    pub fn limit(&self) -> Option<ScopeSet> {
        self.max_scopes
            .as_ref()
            .map(|s| ScopeSet::parse(&s.join(" ")))
    }
}

/// Access token lifetime policy when a template sets none: SMART App Launch 2.2 recommends
/// short-lived tokens; Steward's defaults are an hour for apps and five minutes for backend
/// services and service accounts.
pub fn default_max_access_token_lifetime(kind: Kind) -> i64 {
    match kind {
        Kind::PatientApp | Kind::ClinicianApp => 3600,
        Kind::BackendService | Kind::ServiceAccount => 300,
    }
}
