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
use std::fmt;
use std::marker::PhantomData;

use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::scope::{Context, Interaction};

const DCM_APPLICATION: &str = "110150";
const RESTFUL_INTERACTION: &str = "http://hl7.org/fhir/restful-interaction";
const JTI_PREFIX: &str = "urn:ietf:params:oauth:jti:";

/// An AuditEvent as far as usage needs it. The arrays (`subtype`, `agent`, `entity`) are
/// folded while they are parsed, never collected: a line costs no allocation unless a string
/// carries escapes.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent<'a> {
    #[serde(borrow)]
    resource_type: Cow<'a, str>,
    #[serde(default, borrow, rename = "type")]
    kind: Option<Coding<'a>>,
    #[serde(default, borrow)]
    subtype: Subtypes<'a>,
    #[serde(default, borrow)]
    action: Option<Text<'a>>,
    #[serde(borrow)]
    recorded: Cow<'a, str>,
    #[serde(default, borrow)]
    outcome: Option<Text<'a>>,
    #[serde(default, borrow)]
    agent: Agents<'a>,
    #[serde(default)]
    entity: Entities,
}

#[derive(Deserialize)]
struct Coding<'a> {
    #[serde(default, borrow)]
    system: Option<Text<'a>>,
    #[serde(default, borrow)]
    code: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Identifier<'a> {
    #[serde(default, borrow)]
    value: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Reference<'a> {
    #[serde(default, borrow)]
    reference: Option<Text<'a>>,
    #[serde(default, borrow)]
    identifier: Option<Identifier<'a>>,
    #[serde(default, borrow)]
    display: Option<Text<'a>>,
}

/// Folds a JSON array element by element into `Self`, without collecting it.
trait Fold<'de>: Default {
    type Item: Deserialize<'de>;
    fn fold(&mut self, item: Self::Item);
}

struct FoldVisitor<T>(PhantomData<T>);

impl<'de, T: Fold<'de>> Visitor<'de> for FoldVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        let mut acc = T::default();
        while let Some(item) = seq.next_element::<T::Item>()? {
            acc.fold(item);
        }
        Ok(acc)
    }
}

macro_rules! fold_deserialize {
    ($t:ident) => {
        impl<'de: 'a, 'a> Deserialize<'de> for $t<'a> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_seq(FoldVisitor(PhantomData))
            }
        }
    };
}

/// The restful-interaction code of `subtype`, if any.
#[derive(Default)]
struct Subtypes<'a> {
    rest: Option<Cow<'a, str>>,
}

impl<'de: 'a, 'a> Fold<'de> for Subtypes<'a> {
    type Item = Coding<'a>;
    fn fold(&mut self, c: Coding<'a>) {
        if self.rest.is_none() && c.system.as_deref() == Some(RESTFUL_INTERACTION) {
            self.rest = c.code.map(|t| t.0);
        }
    }
}
fold_deserialize!(Subtypes);

/// Whether a `type.coding` holds DICOM 110150 "Application".
#[derive(Default)]
struct AppCodings {
    app: bool,
}

impl<'de> Fold<'de> for AppCodings {
    type Item = CodingCode<'de>;
    fn fold(&mut self, c: CodingCode<'de>) {
        self.app |= c.code.as_deref() == Some(DCM_APPLICATION);
    }
}

impl<'de> Deserialize<'de> for AppCodings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(FoldVisitor(PhantomData))
    }
}

#[derive(Deserialize)]
struct CodingCode<'a> {
    #[serde(default, borrow)]
    code: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
struct AgentType {
    #[serde(default)]
    coding: AppCodings,
}

/// The first entry of a string array.
#[derive(Default)]
struct First<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Fold<'de> for First<'a> {
    type Item = Text<'a>;
    fn fold(&mut self, s: Text<'a>) {
        if self.0.is_none() {
            self.0 = Some(s.0);
        }
    }
}

/// A JSON string, borrowed from the input unless it carries escapes. (serde borrows a bare
/// `Cow<str>` field, but not one inside an `Option` or a sequence.)
#[derive(Debug, Clone, PartialEq, Eq)]
struct Text<'a>(Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(v)))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextVisitor)
    }
}
fold_deserialize!(First);

#[derive(Deserialize)]
struct Agent<'a> {
    #[serde(default, rename = "type")]
    kind: AgentType,
    #[serde(default, borrow)]
    who: Option<Reference<'a>>,
    #[serde(default)]
    requestor: bool,
    #[serde(default, borrow)]
    policy: First<'a>,
}

/// What the agents say: the client, the human requestor's context, the first token id.
#[derive(Default)]
struct Agents<'a> {
    app: Option<Cow<'a, str>>,
    device: Option<Cow<'a, str>>,
    human: Option<Context>,
    policy: Option<Cow<'a, str>>,
}

fn name<'a>(who: Reference<'a>) -> Option<Cow<'a, str>> {
    who.identifier
        .and_then(|i| i.value)
        .or(who.display)
        .filter(|s| !s.trim().is_empty())
        .map(|t| t.0)
}

impl<'de: 'a, 'a> Fold<'de> for Agents<'a> {
    type Item = Agent<'a>;
    fn fold(&mut self, a: Agent<'a>) {
        if self.policy.is_none() {
            self.policy = a.policy.0;
        }
        let app = a.kind.coding.app;
        let Some(who) = a.who else { return };
        let reference = who.reference.as_deref().unwrap_or("");
        if !app && a.requestor && self.human.is_none() {
            self.human = Some(if reference.starts_with("Patient/") {
                Context::Patient
            } else {
                Context::User
            });
        }
        if app {
            if self.app.is_none() {
                self.app = name(who);
            }
        } else if a.requestor && reference.starts_with("Device/") && self.device.is_none() {
            self.device = name(who);
        }
    }
}
fold_deserialize!(Agents);

#[derive(Deserialize)]
struct EntityRef<'a> {
    #[serde(default, borrow)]
    reference: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Entity<'a> {
    #[serde(default, borrow)]
    what: Option<EntityRef<'a>>,
    #[serde(default, borrow)]
    role: Option<CodingCode<'a>>,
    #[serde(default, borrow)]
    query: Option<Text<'a>>,
}

/// What the entities say: the data type acted on, whether a patient is named, a query.
#[derive(Default)]
struct Entities {
    data: Option<&'static str>,
    patient_type: Option<&'static str>,
    patient: bool,
    has_query: bool,
}

impl<'de> Fold<'de> for Entities {
    type Item = Entity<'de>;
    fn fold(&mut self, en: Entity<'de>) {
        let role_patient = en.role.and_then(|r| r.code).as_deref() == Some("1");
        let t = en
            .what
            .and_then(|w| w.reference)
            .and_then(|r| reference_type(&r));
        if role_patient || t == Some("Patient") {
            self.patient = true;
            self.patient_type = self.patient_type.or(t);
        } else if let Some(t) = t {
            self.data = self.data.or(Some(t));
        }
        if let Some(q) = en.query.as_deref() {
            self.has_query = true;
            self.data = self.data.or_else(|| query_type(q));
        }
    }
}

impl<'de> Deserialize<'de> for Entities {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(FoldVisitor(PhantomData))
    }
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

fn interaction(rest: Option<&str>, action: Option<&str>, has_query: bool) -> Option<Interaction> {
    Some(match rest {
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
        None => match action {
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

/// Whether `s` has the shape of a FHIR instant, `YYYY-MM-DDThh:mm:ss` and a zone (checked
/// byte by byte: this runs once a call).
fn is_instant(s: &str) -> bool {
    let b = s.as_bytes();
    const SHAPE: &[u8; 19] = b"dddd-dd-ddTdd:dd:dd";
    b.len() >= 20
        && SHAPE.iter().zip(b).all(|(want, got)| match want {
            b'd' => got.is_ascii_digit(),
            w => w == got,
        })
        && matches!(b[b.len() - 1], b'Z' | b'0'..=b'9')
}

/// The resource type of a reference (`Observation/1`, `https://x/fhir/Observation/1`).
fn reference_type(reference: &str) -> Option<&'static str> {
    let path = reference.split(['?', '#']).next().unwrap_or("");
    // Type/id, Type/id/_history/v: the type is before the id.
    let path = path.split("/_history").next().unwrap_or(path);
    path.rsplit('/')
        .filter(|p| !p.is_empty())
        .find_map(crate::scope::fhir::resource_type)
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
    pub fn call(self) -> Result<Call<'a>, Skip> {
        if !self.is_audit_event() {
            return Err(Skip::Bad(format!(
                "resourceType: '{}' is not AuditEvent",
                self.resource_type
            )));
        }
        let rest = self.kind.and_then(|k| k.code).as_deref() == Some("rest");
        if !rest && self.subtype.rest.is_none() {
            return Err(Skip::NotRest);
        }
        let recorded = self.recorded;
        if !is_instant(&recorded) {
            return Err(Skip::Bad(format!(
                "recorded: '{recorded}' is not a FHIR instant"
            )));
        }
        let day = match &recorded {
            Cow::Borrowed(s) => Cow::Borrowed(&s[..10]),
            Cow::Owned(s) => Cow::Owned(s[..10].to_string()),
        };
        let en = self.entity;
        let interaction = interaction(
            self.subtype.rest.as_deref(),
            self.action.as_deref(),
            en.has_query,
        )
        .ok_or_else(|| {
            Skip::Bad("subtype: not a restful-interaction code and no action".to_string())
        })?;
        let resource_type = match interaction {
            Interaction::SearchSystem | Interaction::HistorySystem => "",
            _ => en.data.or(en.patient_type).unwrap_or(""),
        };
        let agents = self.agent;
        let caller = match (agents.app.or(agents.device), agents.policy) {
            (Some(id), _) => Caller::Client(id),
            (None, Some(p)) => Caller::Token(match p {
                Cow::Borrowed(s) => Cow::Borrowed(s.strip_prefix(JTI_PREFIX).unwrap_or(s)),
                Cow::Owned(s) => Cow::Owned(s.strip_prefix(JTI_PREFIX).unwrap_or(&s).to_string()),
            }),
            (None, None) => Caller::Unknown,
        };
        let success = self.outcome.as_deref().is_none_or(|o| o == "0");
        Ok(Call {
            caller,
            day,
            recorded,
            context: agents.human.unwrap_or(Context::System),
            resource_type,
            interaction,
            success,
            patient: en.patient,
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
    fn instants_are_checked_by_shape() {
        for ok in [
            "2026-11-01T10:00:00Z",
            "2020-04-29T09:49:00.000Z",
            "2026-11-01T10:00:00+02:00",
        ] {
            assert!(is_instant(ok), "{ok}");
        }
        for bad in [
            "2026-11-01",
            "yesterday",
            "2026-11-01 10:00:00Z",
            "2026-1x-01T10:00:00Z",
        ] {
            assert!(!is_instant(bad), "{bad}");
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
