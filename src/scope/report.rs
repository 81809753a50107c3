use serde::Serialize;
use ts_rs::TS;

use super::{explain, risk, traits, Context, RiskReport, RiskTrait, Scope, ScopeSet};

/// One scope string as the engine reads it (the `scope parse` contract, plus the canonical
/// form, a plain-language explanation and risk traits).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct ScopeInfo {
    /// As given.
    pub scope: String,
    pub valid: bool,
    /// `patient`, `user` or `system` for resource scopes; null otherwise.
    pub context: Option<Context>,
    /// The resource type or `*`; for non-resource scopes the scope itself.
    pub resource: Option<String>,
    /// Canonical letters in `cruds` order, for resource scopes.
    pub perms: Option<String>,
    pub query: Option<String>,
    pub error: Option<String>,
    /// SMART v2 canonical spelling.
    pub canonical: Option<String>,
    pub explanation: String,
    pub traits: Vec<RiskTrait>,
}

/// Reads one scope string.
pub fn scope_info(raw: &str) -> ScopeInfo {
    match Scope::parse(raw) {
        Ok(s) => {
            let (context, resource, perms, query) = match &s {
                Scope::Resource(r) => (
                    Some(r.context),
                    Some(r.resource.to_string()),
                    Some(r.perms.to_string()),
                    r.query.as_ref().map(|q| q.to_string()),
                ),
                Scope::Special(sp) => (None, Some(sp.as_str().to_string()), None, None),
            };
            ScopeInfo {
                scope: raw.to_string(),
                valid: true,
                context,
                resource,
                perms,
                query,
                error: None,
                canonical: Some(s.to_string()),
                explanation: explain(&s),
                traits: traits(&s),
            }
        }
        Err(e) => ScopeInfo {
            scope: raw.to_string(),
            valid: false,
            context: None,
            resource: None,
            perms: None,
            query: None,
            explanation: format!("Not a valid SMART scope: {}.", e.message),
            error: Some(e.message),
            canonical: None,
            traits: Vec::new(),
        },
    }
}

/// Approved against granted: what the grant adds, what approval is not used by the grant,
/// and the risk of each side.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct ScopeDiff {
    /// Granted access no approved scope covers (canonical).
    pub beyond_approved: Vec<String>,
    /// Approved access the grant does not include.
    pub approved_not_granted: Vec<String>,
    pub granted_risk: RiskReport,
    pub approved_risk: RiskReport,
    /// Scope strings on either side that are not SMART scopes.
    pub invalid: Vec<String>,
}

/// Compares an approved and a granted scope string.
pub fn scope_diff(approved: &str, granted: &str) -> ScopeDiff {
    let (a, g) = (ScopeSet::parse(approved), ScopeSet::parse(granted));
    let words = |s: &ScopeSet| s.scopes().iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut invalid: Vec<String> = a
        .invalid()
        .iter()
        .chain(g.invalid())
        .map(|e| e.scope.clone())
        .collect();
    invalid.dedup();
    ScopeDiff {
        beyond_approved: words(&g.difference(&a)),
        approved_not_granted: words(&a.difference(&g)),
        granted_risk: risk(&g),
        approved_risk: risk(&a),
        invalid,
    }
}
