//! The inventory: non-human identities, the people who own them, their scopes and credentials.

pub mod demo;
pub mod fingerprint;
pub mod import;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::scope::report::{ScopeDiff, ScopeInfo};
use crate::time::Timestamp;

/// Declares a closed string enum stored as TEXT, with `as_str`, `ALL`, `FromStr` and `Display`
/// (the store maps each one to a TEXT column in `store::types`).
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS,
        )]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and printed spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s.trim() {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "'{other}' is not one of {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

    };
}

pub(crate) use text_enum;

text_enum! {
    /// What kind of non-human identity this is.
    Kind {
        PatientApp => "patient_app",
        ClinicianApp => "clinician_app",
        BackendService => "backend_service",
        ServiceAccount => "service_account",
    }
}

impl Kind {
    /// The context this kind's calls are in when a log does not say: a patient app acts for
    /// its patient, a clinician app for its user, a backend service or service account for
    /// itself.
    pub fn context(self) -> crate::scope::Context {
        use crate::scope::Context;
        match self {
            Kind::PatientApp => Context::Patient,
            Kind::ClinicianApp => Context::User,
            Kind::BackendService | Kind::ServiceAccount => Context::System,
        }
    }
}

text_enum! {
    /// Where an identity runs; production must stay separate from the others.
    Environment {
        Sandbox => "sandbox",
        Staging => "staging",
        Production => "production",
    }
}

text_enum! {
    /// Lifecycle state of an identity.
    Status {
        Pending => "pending",
        Active => "active",
        Suspended => "suspended",
        Revoked => "revoked",
        Retired => "retired",
    }
}

text_enum! {
    /// Which of an identity's stored scope sets a scope belongs to.
    ScopeSet {
        Approved => "approved",
        Granted => "granted",
    }
}

text_enum! {
    /// The kind of a credential; only its fingerprint is ever stored.
    CredentialKind {
        Secret => "secret",
        Key => "key",
        Token => "token",
    }
}

text_enum! {
    /// Which owner of an identity a change is about.
    OwnerRole {
        Business => "business",
        Technical => "technical",
    }
}

/// A person as shown with an identity: owners and reviewers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Person {
    #[ts(type = "number")]
    pub id: i64,
    pub name: String,
    pub email: String,
    /// False once the person has left the organization.
    pub active: bool,
}

/// A person named in input: a name (optional) and an email, which is their key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonInput {
    pub name: String,
    pub email: String,
}

impl PersonInput {
    /// Builds a person from an email and an optional name; the name defaults to the email's
    /// local part. Fails when the email is not plausibly one.
    pub fn new(name: Option<&str>, email: &str) -> Result<Self, String> {
        let email = email.trim();
        let (local, domain) = email
            .split_once('@')
            .ok_or_else(|| format!("'{email}' is not an email address"))?;
        if local.is_empty() || domain.is_empty() || email.contains(char::is_whitespace) {
            return Err(format!("'{email}' is not an email address"));
        }
        let name = name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(local);
        Ok(PersonInput {
            name: name.to_string(),
            email: email.to_string(),
        })
    }

    /// Parses `Name <email>` or a bare email.
    pub fn parse(spec: &str) -> Result<Self, String> {
        match spec
            .trim()
            .strip_suffix('>')
            .and_then(|s| s.split_once('<'))
        {
            Some((name, email)) => PersonInput::new(Some(name), email),
            None => PersonInput::new(None, spec),
        }
    }
}

/// Everything an importer or form can say about an identity. `None` leaves a stored value as
/// it is, so a partial source (a Keycloak export has no owners) never wipes what another set.
#[derive(Debug, Clone, Default)]
pub struct IdentityInput {
    pub client_id: String,
    pub environment: Option<Environment>,
    pub name: Option<String>,
    pub kind: Option<Kind>,
    pub vendor: Option<String>,
    pub status: Option<Status>,
    pub business_owner: Option<PersonInput>,
    pub technical_owner: Option<PersonInput>,
    pub purpose: Option<String>,
    pub use_case: Option<String>,
    pub approved_scopes: Option<Vec<String>>,
    pub granted_scopes: Option<Vec<String>>,
    pub auth_method: Option<String>,
    pub access_token_lifetime_s: Option<i64>,
    pub refresh_token_lifetime_s: Option<i64>,
    /// Raw client secret, only ever held long enough to fingerprint it.
    pub client_secret: Option<fingerprint::RawSecret>,
    /// Fingerprints of public keys (RFC 7638 thumbprints) registered inline.
    pub key_fingerprints: Vec<String>,
    pub jwks_uri: Option<String>,
    pub revocation_endpoint: Option<String>,
    pub last_used_at: Option<Timestamp>,
    /// A certification: set only by a review decision in Steward.
    pub last_reviewed_at: Option<Timestamp>,
    /// A review date a registration file reports: history ("reviewed elsewhere on DATE"),
    /// never a certification.
    pub reviewed_elsewhere_at: Option<Timestamp>,
    pub ai_agent: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::bare_email("ana@example.org", "ana", "ana@example.org")]
    #[case::name_and_email("Ana Lima <ana@example.org>", "Ana Lima", "ana@example.org")]
    #[case::padded("  Bo <bo@x.io> ", "Bo", "bo@x.io")]
    fn person_specs_parse(#[case] spec: &str, #[case] name: &str, #[case] email: &str) {
        let p = PersonInput::parse(spec).expect("valid person spec");
        assert_eq!((p.name.as_str(), p.email.as_str()), (name, email));
    }

    #[rstest]
    #[case::no_at("ana")]
    #[case::no_domain("ana@")]
    #[case::space_inside("Ana <a na@x.org>")]
    fn bad_person_specs_are_rejected(#[case] spec: &str) {
        assert!(
            PersonInput::parse(spec).is_err(),
            "{spec} must not parse as a person"
        );
    }

    #[test]
    fn text_enums_round_trip_and_name_the_choices() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>(), Ok(*k));
        }
        let e = "prod"
            .parse::<Environment>()
            .expect_err("not an environment");
        assert!(
            e.contains("production"),
            "error should list the valid values: {e}"
        );
    }
}

/// An identity as listed and shown, owners resolved and scope sets attached.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct Identity {
    #[ts(type = "number")]
    pub id: i64,
    pub client_id: String,
    pub name: String,
    pub kind: Kind,
    pub environment: Environment,
    pub status: Status,
    pub vendor: Option<String>,
    pub business_owner: Option<Person>,
    pub technical_owner: Option<Person>,
    pub purpose: Option<String>,
    pub use_case: Option<String>,
    pub approved_scopes: Vec<String>,
    pub granted_scopes: Vec<String>,
    /// Risk of the granted scopes (see `scope::explain`).
    pub risk_score: u32,
    /// `low`, `medium` or `high`.
    pub risk_tier: String,
    /// How often it is recertified (see `review::tier`).
    pub review_tier: crate::review::Tier,
    pub auth_method: Option<String>,
    #[ts(type = "number | null")]
    pub access_token_lifetime_s: Option<i64>,
    #[ts(type = "number | null")]
    pub refresh_token_lifetime_s: Option<i64>,
    pub jwks_uri: Option<String>,
    pub revocation_endpoint: Option<String>,
    pub last_used_at: Option<String>,
    pub last_reviewed_at: Option<String>,
    pub next_review_due: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// An AI or autonomous agent (NIST AI RMF applies to its findings).
    pub ai_agent: bool,
    /// Why its certification expired on a change; cleared by the next review decision.
    pub reauth_reason: Option<String>,
    pub reauth_since: Option<String>,
    /// A review date a registration file reported: history, never a certification.
    pub reviewed_elsewhere_at: Option<String>,
}

/// An approved scope with why it is needed and who approved it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct Approval {
    pub scope: String,
    pub justification: Option<String>,
    pub approved_by: Option<Person>,
    /// Whether the granted scopes include this access.
    pub granted: bool,
    pub info: ScopeInfo,
}

/// A granted scope and whether an approved scope covers it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct Grant {
    pub scope: String,
    pub approved: bool,
    pub info: ScopeInfo,
}

/// A credential, known only by its fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct Credential {
    #[ts(type = "number")]
    pub id: i64,
    pub kind: CredentialKind,
    pub fingerprint: String,
    pub issued_at: Option<String>,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub rotated_at: Option<String>,
    pub revoked_at: Option<String>,
    /// Other identities holding the same fingerprint (credential reuse).
    #[ts(type = "number")]
    pub reused_by: i64,
}

/// Which column the inventory is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum IdentitySort {
    #[default]
    Name,
    Kind,
    Environment,
    BusinessOwner,
    TechnicalOwner,
    Purpose,
    GrantedScopes,
    NextReviewDue,
    Status,
}

/// Search, filter, sort and paging of the inventory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct IdentityFilter {
    pub environment: Option<Environment>,
    pub kind: Option<Kind>,
    pub status: Option<Status>,
    /// Case-insensitive text found in name, client_id, vendor, purpose or an owner's name.
    pub search: Option<String>,
    /// Only identities this person (id) owns, as business or technical owner.
    #[ts(type = "number | null")]
    pub owner: Option<i64>,
    pub sort: IdentitySort,
    pub descending: bool,
    #[ts(type = "number | null")]
    pub limit: Option<i64>,
    #[ts(type = "number | null")]
    pub offset: Option<i64>,
}

/// One page of the inventory and how many identities match in all.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct IdentityPage {
    #[ts(type = "number")]
    pub total: i64,
    pub rows: Vec<Identity>,
}

/// Everything the detail view shows about one identity.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct IdentityDetail {
    #[serde(flatten)]
    #[ts(flatten)]
    pub identity: Identity,
    pub approvals: Vec<Approval>,
    pub grants: Vec<Grant>,
    pub scope_diff: ScopeDiff,
    pub credentials: Vec<Credential>,
    pub history: Vec<crate::audit::AuditEntry>,
}

/// An identity row exactly as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IdentityRecord {
    pub id: i64,
    pub client_id: String,
    pub environment: Environment,
    pub name: String,
    pub kind: Kind,
    pub vendor: Option<String>,
    pub status: Status,
    pub business_owner_id: Option<i64>,
    pub technical_owner_id: Option<i64>,
    pub purpose: Option<String>,
    pub use_case: Option<String>,
    pub auth_method: Option<String>,
    pub access_token_lifetime_s: Option<i64>,
    pub refresh_token_lifetime_s: Option<i64>,
    pub jwks_uri: Option<String>,
    pub revocation_endpoint: Option<String>,
    pub last_used_at: Option<String>,
    pub last_reviewed_at: Option<String>,
    pub next_review_due: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// An AI or autonomous agent (NIST AI RMF applies).
    pub ai_agent: bool,
    /// Why the certification expired on a change, until the next decision.
    pub reauth_reason: Option<String>,
    pub reauth_since: Option<String>,
    /// Raised by every update: an update that names an older version is a conflict.
    #[serde(default = "first_version")]
    pub version: i64,
    /// When a registration file said the identity was last reviewed elsewhere (history,
    /// never a certification).
    #[serde(default)]
    pub reviewed_elsewhere_at: Option<String>,
}

fn first_version() -> i64 {
    1
}

/// A credential to store for an identity.
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub identity_id: i64,
    pub kind: CredentialKind,
    pub fingerprint: String,
    pub issued_at: Option<String>,
    pub expires_at: Option<String>,
}
