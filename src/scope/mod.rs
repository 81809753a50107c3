//! SMART App Launch 2.2 scopes: grammar, canonical sets, request checks, risk and
//! explanations. Stored scope sets go through [`stored_set`], the one place that decides
//! their stored form.

pub mod explain;
pub mod fhir;
pub mod grammar;
pub mod report;
pub mod request;
pub mod set;

pub use explain::{explain, risk, traits, RiskReason, RiskReport, RiskTrait};
pub use grammar::{Context, Perms, Resource, ResourceScope, Scope, ScopeError, Special};
pub use request::{allows, minimal_cover, Decision, Interaction, Request};
pub use set::ScopeSet;

/// The stored form of a space-separated scope string: each valid scope canonical (SMART v2),
/// scopes that become equal merged, each invalid scope kept verbatim (flagged when shown,
/// never dropped), order of first appearance kept. Covered scopes are not dropped: each
/// approved scope carries its own justification.
pub fn stored_set(raw: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for token in raw.split_whitespace() {
        let word = stored_form(token);
        if !out.contains(&word) {
            out.push(word);
        }
    }
    out
}

/// The stored form of one scope: canonical when valid, verbatim when not.
pub fn stored_form(token: &str) -> String {
    match Scope::parse(token) {
        Ok(s) => s.to_string(),
        Err(_) => token.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_sets_are_canonical_and_keep_invalid_scopes() {
        assert_eq!(
            stored_set("  openid  patient/Patient.read openid\tpatient/Patient.rs launch/patient __custom "),
            ["openid", "patient/Patient.rs", "launch/patient", "__custom"]
        );
    }
}

#[cfg(test)]
mod conformance;
