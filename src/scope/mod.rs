//! SMART scopes. For now a scope set is stored as given (split on whitespace, de-duplicated,
//! order kept); the SMART scope engine canonicalizes here, and only here, when it lands.

/// Splits a space-separated scope string into the set Steward stores.
pub fn stored_set(raw: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in raw.split_whitespace() {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_extra_spaces_are_dropped() {
        assert_eq!(
            stored_set("  openid  patient/Patient.read openid\tlaunch/patient "),
            ["openid", "patient/Patient.read", "launch/patient"]
        );
    }
}
