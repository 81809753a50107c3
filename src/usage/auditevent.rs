//! One FHIR R4 AuditEvent, read the IHE BALP way: which client called, what it did to which
//! resource type, in which context, with what outcome, on which day.
//!
//! The calling client is, in order:
//! 1. the agent typed DICOM `110150` "Application" (BALP): `who.identifier.value`, else
//!    `who.display`;
//! 2. an agent whose `who.reference` is a `Device/` and that is the requestor (servers that
//!    record the client as a device): `who.identifier.value`, else `who.display`;
//! 3. the OAuth token id in any agent's `policy` (`urn:ietf:params:oauth:jti:...` or a bare
//!    id, as BALP shows), looked up in the token events already imported;
//!    otherwise the call counts under the unknown client.
//!
//! Only REST calls count: `type.code` `rest`, or a `subtype` from the restful-interaction
//! system. Logins, logouts and other events are skipped, not reported as malformed.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::scope::{Context, Interaction};

const DCM_APPLICATION: &str = "110150";
const RESTFUL_INTERACTION: &str = "http://hl7.org/fhir/restful-interaction";
const JTI_PREFIX: &str = "urn:ietf:params:oauth:jti:";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent<'a> {
    #[serde(borrow)]
    resource_type: Cow<'a, str>,
    #[serde(default, borrow, rename = "type")]
    kind: Option<Coding<'a>>,
    #[serde(default, borrow)]
    subtype: Vec<Coding<'a>>,
    #[serde(default, borrow)]
    action: Option<Cow<'a, str>>,
    #[serde(borrow)]
    recorded: Cow<'a, str>,
    #[serde(default, borrow)]
    outcome: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    agent: Vec<Agent<'a>>,
    #[serde(default, borrow)]
    entity: Vec<Entity<'a>>,
}

#[derive(Deserialize)]
struct Coding<'a> {
    #[serde(default, borrow)]
    system: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    code: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct CodeableConcept<'a> {
    #[serde(default, borrow)]
    coding: Vec<Coding<'a>>,
}

#[derive(Deserialize)]
struct Identifier<'a> {
    #[serde(default, borrow)]
    value: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Reference<'a> {
    #[serde(default, borrow)]
    reference: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    identifier: Option<Identifier<'a>>,
    #[serde(default, borrow)]
    display: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Agent<'a> {
    #[serde(default, borrow, rename = "type")]
    kind: Option<CodeableConcept<'a>>,
    #[serde(default, borrow)]
    who: Option<Reference<'a>>,
    #[serde(default)]
    requestor: bool,
    #[serde(default, borrow)]
    policy: Vec<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Entity<'a> {
    #[serde(default, borrow)]
    what: Option<Reference<'a>>,
    #[serde(default, borrow)]
    role: Option<Coding<'a>>,
    #[serde(default, borrow)]
    query: Option<Cow<'a, str>>,
}

/// A Bundle of AuditEvents (a search result or a transaction of them).
#[derive(Deserialize)]
pub struct Bundle<'a> {
    #[serde(borrow, rename = "resourceType")]
    pub resource_type: Cow<'a, str>,
    #[serde(default, borrow)]
    pub entry: Vec<BundleEntry<'a>>,
}

#[derive(Deserialize)]
pub struct BundleEntry<'a> {
    #[serde(default, borrow)]
    pub resource: Option<AuditEvent<'a>>,
    #[allow(dead_code)]
    #[serde(default)]
    request: IgnoredAny,
}

/// Who called: a client id, or a token id to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller<'a> {
    Client(Cow<'a, str>),
    Token(Cow<'a, str>),
    Unknown,
}

/// What one AuditEvent says about one API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call<'a> {
    pub caller: Caller<'a>,
    /// `YYYY-MM-DD` of `recorded`.
    pub day: Cow<'a, str>,
    pub recorded: Cow<'a, str>,
    pub context: Context,
    /// The FHIR type acted on; empty for a whole-system interaction.
    pub resource_type: &'static str,
    pub interaction: Interaction,
    pub success: bool,
    /// Whether a patient is named (an entity with role Patient or a `Patient/` reference).
    pub patient: bool,
}

/// Why an event is not counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Not a REST call (a login, logout, export to media, ...).
    NotRest,
    /// Malformed: names the field.
    Bad(String),
}

fn is_rest(e: &AuditEvent<'_>) -> bool {
    e.kind
        .as_ref()
        .and_then(|k| k.code.as_deref())
        .is_some_and(|c| c == "rest")
        || e.subtype
            .iter()
            .any(|s| s.system.as_deref() == Some(RESTFUL_INTERACTION))
}

fn interaction(e: &AuditEvent<'_>, has_query: bool) -> Option<Interaction> {
    let sub = e
        .subtype
        .iter()
        .find(|s| s.system.as_deref() == Some(RESTFUL_INTERACTION))
        .and_then(|s| s.code.as_deref());
    Some(match sub {
        Some("read") => Interaction::Read,
        Some("vread") => Interaction::Vread,
        Some("update") => Interaction::Update,
        Some("patch") => Interaction::Patch,
        Some("delete") => Interaction::Delete,
        Some("history-instance") => Interaction::HistoryInstance,
        Some("history-type") => Interaction::HistoryType,
        Some("history-system") | Some("history") => Interaction::HistorySystem,
        Some("create") => Interaction::Create,
        Some("search-type") | Some("search") => Interaction::SearchType,
        Some("search-system") => Interaction::SearchSystem,
        Some("operation") | Some("batch") | Some("transaction") | Some("capabilities") => {
            Interaction::Operation
        }
        Some(_) => return None,
        None => match e.action.as_deref() {
            Some("C") => Interaction::Create,
            Some("R") => Interaction::Read,
            Some("U") => Interaction::Update,
            Some("D") => Interaction::Delete,
            Some("E") if has_query => Interaction::SearchType,
            Some("E") => Interaction::Operation,
            _ => return None,
        },
    })
}

fn coded(agent: &Agent<'_>, code: &str) -> bool {
    agent
        .kind
        .as_ref()
        .is_some_and(|k| k.coding.iter().any(|c| c.code.as_deref() == Some(code)))
}

fn name<'a>(who: &Reference<'a>) -> Option<Cow<'a, str>> {
    who.identifier
        .as_ref()
        .and_then(|i| i.value.clone())
        .or_else(|| who.display.clone())
        .filter(|s| !s.trim().is_empty())
}

fn caller<'a>(agents: &[Agent<'a>]) -> Caller<'a> {
    let app = agents
        .iter()
        .find(|a| coded(a, DCM_APPLICATION))
        .or_else(|| {
            agents.iter().find(|a| {
                a.requestor
                    && a.who
                        .as_ref()
                        .and_then(|w| w.reference.as_deref())
                        .is_some_and(|r| r.starts_with("Device/"))
            })
        });
    if let Some(id) = app.and_then(|a| a.who.as_ref()).and_then(name) {
        return Caller::Client(id);
    }
    let jti = agents.iter().flat_map(|a| a.policy.iter()).next();
    match jti {
        Some(p) => Caller::Token(match p {
            Cow::Borrowed(s) => Cow::Borrowed(s.strip_prefix(JTI_PREFIX).unwrap_or(s)),
            Cow::Owned(s) => Cow::Owned(s.strip_prefix(JTI_PREFIX).unwrap_or(s).to_string()),
        }),
        None => Caller::Unknown,
    }
}

/// The resource type of a reference (`Observation/1`, `https://x/fhir/Observation/1`).
fn reference_type(reference: &str) -> Option<&'static str> {
    let path = reference.split(['?', '#']).next().unwrap_or("");
    let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    // Type/id, Type/id/_history/v: the type is before the id.
    if let Some(i) = parts.iter().position(|p| *p == "_history") {
        parts.truncate(i);
    }
    parts
        .iter()
        .rev()
        .find_map(|p| crate::scope::fhir::resource_type(p))
}

/// The resource type of a search from a base64 query (`.../Encounter?participant=13`).
fn query_type(query: &str) -> Option<&'static str> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(query.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let path = text.split('?').next()?;
    path.rsplit('/')
        .find(|p| !p.is_empty())
        .and_then(crate::scope::fhir::resource_type)
}

impl<'a> AuditEvent<'a> {
    /// Whether this is an AuditEvent at all.
    pub fn is_audit_event(&self) -> bool {
        self.resource_type == "AuditEvent"
    }

    /// The call this event records, or why it is not counted.
    pub fn call(mut self) -> Result<Call<'a>, Skip> {
        if !self.is_audit_event() {
            return Err(Skip::Bad(format!(
                "resourceType: '{}' is not AuditEvent",
                self.resource_type
            )));
        }
        if !is_rest(&self) {
            return Err(Skip::NotRest);
        }
        let recorded = std::mem::take(&mut self.recorded);
        if recorded.len() < 10 || crate::time::parse(&recorded).is_err() {
            return Err(Skip::Bad(format!(
                "recorded: '{recorded}' is not a FHIR instant"
            )));
        }
        let day = match &recorded {
            Cow::Borrowed(s) => Cow::Borrowed(&s[..10]),
            Cow::Owned(s) => Cow::Owned(s[..10].to_string()),
        };
        let mut patient = false;
        let mut data: Option<&'static str> = None;
        let mut patient_type: Option<&'static str> = None;
        let mut has_query = false;
        for en in &self.entity {
            let role_patient = en.role.as_ref().and_then(|r| r.code.as_deref()) == Some("1");
            let t = en
                .what
                .as_ref()
                .and_then(|w| w.reference.as_deref())
                .and_then(reference_type);
            if role_patient || t == Some("Patient") {
                patient = true;
                patient_type = patient_type.or(t);
            } else if let Some(t) = t {
                data = data.or(Some(t));
            }
            if let Some(q) = en.query.as_deref() {
                has_query = true;
                data = data.or_else(|| query_type(q));
            }
        }
        let interaction = interaction(&self, has_query).ok_or_else(|| {
            Skip::Bad("subtype: not a restful-interaction code and no action".to_string())
        })?;
        let resource_type = match interaction {
            Interaction::SearchSystem | Interaction::HistorySystem => "",
            _ => data.or(patient_type).unwrap_or(""),
        };
        let human = self
            .agent
            .iter()
            .filter(|a| !coded(a, DCM_APPLICATION) && a.requestor)
            .find_map(|a| a.who.as_ref());
        let context = match human {
            Some(w)
                if w.reference
                    .as_deref()
                    .is_some_and(|r| r.starts_with("Patient/")) =>
            {
                Context::Patient
            }
            Some(_) => Context::User,
            None => Context::System,
        };
        let success = self.outcome.as_deref().is_none_or(|o| o == "0");
        Ok(Call {
            caller: caller(&self.agent),
            day,
            recorded,
            context,
            resource_type,
            interaction,
            success,
            patient,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(json: &str) -> Result<Call<'_>, Skip> {
        let e: AuditEvent = serde_json::from_str(json).expect("an AuditEvent");
        e.call()
    }

    #[test]
    fn balp_names_the_client_and_the_read() {
        let text =
            include_str!("../../tests/fixtures/auditevents/balp-ex-auditBasicReadOServer.json");
        let c = call(text).expect("a REST call");
        assert_eq!(c.caller, Caller::Client(Cow::Borrowed("SampleApp")));
        assert_eq!(c.interaction, Interaction::Read);
        assert_eq!(c.resource_type, "List", "the data entity, not the patient");
        assert!(c.patient);
        assert_eq!(c.context, Context::User);
        assert_eq!(c.day, "2020-04-29");
        assert!(c.success);
    }

    #[test]
    fn a_search_takes_its_type_from_the_query() {
        let text = include_str!("../../tests/fixtures/auditevents/audit-event-example-search.json");
        let c = call(text).expect("a REST call");
        assert_eq!(c.interaction, Interaction::SearchType);
        assert_eq!(c.resource_type, "Encounter");
        assert_eq!(
            c.caller,
            Caller::Unknown,
            "the spec example names no client"
        );
    }

    #[test]
    fn a_vread_reads_the_type_before_history() {
        let text = include_str!("../../tests/fixtures/auditevents/audit-event-example-vread.json");
        let c = call(text).expect("a REST call");
        assert_eq!(c.interaction, Interaction::Vread);
        assert_eq!(c.resource_type, "Patient");
    }

    #[test]
    fn a_failed_create_is_a_failure() {
        let text = include_str!("../../tests/fixtures/auditevents/auditevent-example-error.json");
        let c = call(text).expect("a REST call");
        assert_eq!(c.interaction, Interaction::Create);
        assert!(!c.success);
    }

    #[test]
    fn logins_are_not_api_calls() {
        for text in [
            include_str!("../../tests/fixtures/auditevents/audit-event-example-login.json"),
            include_str!("../../tests/fixtures/auditevents/audit-event-example-logout.json"),
            include_str!("../../tests/fixtures/auditevents/audit-event-example-media.json"),
        ] {
            assert_eq!(call(text), Err(Skip::NotRest));
        }
    }

    #[test]
    fn a_token_id_is_the_fallback_caller() {
        let json = r#"{"resourceType":"AuditEvent","type":{"code":"rest"},
            "subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":"search-type"}],
            "recorded":"2026-11-01T10:00:00Z","outcome":"0",
            "agent":[{"who":{"display":"Dr A"},"requestor":true,
                      "policy":["urn:ietf:params:oauth:jti:tok-1"]}],
            "entity":[{"what":{"reference":"Observation"}}]}"#;
        let c = call(json).expect("call");
        assert_eq!(c.caller, Caller::Token(Cow::Borrowed("tok-1")));
        assert_eq!(c.resource_type, "Observation");
    }
}
