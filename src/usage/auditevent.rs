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

use super::json::{indexed, tag, Json, Reader, Res};
use crate::scope::{Context, Interaction};

const DCM_APPLICATION: &str = "110150";
const RESTFUL_INTERACTION: &str = "http://hl7.org/fhir/restful-interaction";
const JTI_PREFIX: &str = "urn:ietf:params:oauth:jti:";

/// The member names read, as [`tag`]s.
mod name {
    use super::tag;
    macro_rules! names {
        ($($id:ident = $name:literal),* $(,)?) => { $(pub const $id: u128 = tag($name);)* };
    }
    names!(
        RESOURCE_TYPE = "resourceType",
        TYPE = "type",
        SUBTYPE = "subtype",
        ACTION = "action",
        RECORDED = "recorded",
        OUTCOME = "outcome",
        AGENT = "agent",
        ENTITY = "entity",
        SYSTEM = "system",
        CODE = "code",
        CODING = "coding",
        WHO = "who",
        REQUESTOR = "requestor",
        POLICY = "policy",
        REFERENCE = "reference",
        IDENTIFIER = "identifier",
        VALUE = "value",
        DISPLAY = "display",
        WHAT = "what",
        ROLE = "role",
        QUERY = "query",
    );
}

/// An AuditEvent as far as usage needs it, read in one pass over the JSON: the arrays
/// (`subtype`, `agent`, `entity`) are folded while they are read, never collected, and every
/// other member is checked and skipped. A line costs no allocation unless a string it keeps
/// carries escapes. A member whose value is `null` counts as absent.
#[derive(Default)]
pub struct AuditEvent<'a> {
    #[doc(hidden)]
    pub resource_type: Option<Cow<'a, str>>,
    /// `type.code` is `rest`.
    #[doc(hidden)]
    pub rest_type: bool,
    /// The restful-interaction code of `subtype`.
    #[doc(hidden)]
    pub rest: Option<Cow<'a, str>>,
    #[doc(hidden)]
    pub action: Option<Cow<'a, str>>,
    #[doc(hidden)]
    pub recorded: Option<Cow<'a, str>>,
    #[doc(hidden)]
    pub outcome: Option<Cow<'a, str>>,
    #[doc(hidden)]
    pub agents: Agents<'a>,
    #[doc(hidden)]
    pub entities: Entities,
}

/// What the agents say: the client, the human requestor's context, the first token id.
#[derive(Default)]
#[doc(hidden)]
pub struct Agents<'a> {
    pub app: Option<Cow<'a, str>>,
    pub device: Option<Cow<'a, str>>,
    /// The context the first human requestor settles: a `Patient/` reference is patient
    /// context, a reference to another person (`Practitioner/`, `PractitionerRole/`,
    /// `RelatedPerson/`, `Person/`) user context.
    pub human: Option<Context>,
    /// A requestor that is not the application but does not settle the context: named only
    /// by a display, a `Device/`, or a reference of a type the reader does not know.
    pub unsettled: bool,
    pub policy: Option<Cow<'a, str>>,
}

/// The context a human requestor's reference settles, if it does.
#[doc(hidden)]
pub fn person_context(reference: &str) -> Option<Context> {
    let kind = reference.split('/').rev().nth(1)?;
    match kind {
        "Patient" => Some(Context::Patient),
        "Practitioner" | "PractitionerRole" | "RelatedPerson" | "Person" => Some(Context::User),
        _ => None,
    }
}

/// What the entities say: the data type acted on, whether a patient is named, a query.
#[derive(Default)]
#[doc(hidden)]
pub struct Entities {
    pub data: Option<&'static str>,
    pub patient_type: Option<&'static str>,
    pub patient: bool,
    pub has_query: bool,
}

/// Two optional strings read from one object.
type Pair<'a> = (Option<Cow<'a, str>>, Option<Cow<'a, str>>);

/// A `Coding`'s system and code.
fn coding<'a>(r: &mut impl Json<'a>) -> Res<Pair<'a>> {
    let (mut system, mut code) = (None, None);
    r.object(|r, k| {
        match k {
            name::SYSTEM => system = Some(r.string()?),
            name::CODE => code = Some(r.string()?),
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok((system, code))
}

/// The client a `Reference` names: `identifier.value`, else `display`; and its `reference`.
fn who<'a>(r: &mut impl Json<'a>) -> Res<Pair<'a>> {
    let (mut reference, mut value, mut display) = (None, None, None);
    r.object(|r, k| {
        match k {
            name::REFERENCE => reference = Some(r.string()?),
            name::IDENTIFIER => r.object(|r, k| match k {
                name::VALUE => r.string().map(|v| value = Some(v)),
                _ => r.skip(),
            })?,
            name::DISPLAY => display = Some(r.string()?),
            _ => r.skip()?,
        }
        Ok(())
    })?;
    let name = value
        .or(display)
        .filter(|s: &Cow<'_, str>| !s.trim().is_empty());
    Ok((name, reference))
}

impl<'a> Agents<'a> {
    fn agent(&mut self, r: &mut impl Json<'a>) -> Res<()> {
        let (mut app, mut requestor) = (false, false);
        let (mut name, mut reference, mut named) = (None, None, false);
        r.object(|r, k| {
            match k {
                name::TYPE => r.object(|r, k| match k {
                    name::CODING => r.array(|r| {
                        app |= coding(r)?.1.as_deref() == Some(DCM_APPLICATION);
                        Ok(())
                    }),
                    _ => r.skip(),
                })?,
                name::WHO => {
                    (name, reference) = who(r)?;
                    named = true;
                }
                name::REQUESTOR => requestor = r.boolean()?,
                name::POLICY => r.array(|r| {
                    let p = r.string()?;
                    if self.policy.is_none() {
                        self.policy = Some(p);
                    }
                    Ok(())
                })?,
                _ => r.skip()?,
            }
            Ok(())
        })?;
        if !named {
            return Ok(());
        }
        let reference = reference.as_deref().unwrap_or("");
        if !app && requestor && self.human.is_none() {
            match person_context(reference) {
                Some(c) => self.human = Some(c),
                None => self.unsettled = true,
            }
        }
        if app {
            if self.app.is_none() {
                self.app = name;
            }
        } else if requestor && reference.starts_with("Device/") && self.device.is_none() {
            self.device = name;
        }
        Ok(())
    }
}

impl Entities {
    fn entity<'a>(&mut self, r: &mut impl Json<'a>) -> Res<()> {
        let (mut t, mut role_patient) = (None, false);
        r.object(|r, k| {
            match k {
                name::WHAT => r.object(|r, k| match k {
                    name::REFERENCE => r.string().map(|s| t = reference_type(&s)),
                    _ => r.skip(),
                })?,
                name::ROLE => role_patient = coding(r)?.1.as_deref() == Some("1"),
                name::QUERY => {
                    let q = r.string()?;
                    self.has_query = true;
                    self.data = self.data.or_else(|| query_type(&q));
                }
                _ => r.skip()?,
            }
            Ok(())
        })?;
        if role_patient || t == Some("Patient") {
            self.patient = true;
            self.patient_type = self.patient_type.or(t);
        } else if let Some(t) = t {
            self.data = self.data.or(Some(t));
        }
        Ok(())
    }
}

impl<'a> AuditEvent<'a> {
    /// Reads one JSON document that must be a single object: on the fast path when it takes
    /// the line, else (and for the message of a malformed line) byte by byte.
    pub fn parse(text: &'a str) -> Res<Self> {
        Self::parse_then(text, |e| e)
    }

    /// Reads `text` as one AuditEvent and hands it to `f` where it was read, rather than
    /// returning it: an event is over 200 bytes, and returned through each layer of the
    /// reader it was copied as many times (a few percent of an import's time).
    pub fn parse_then<T>(text: &'a str, f: impl FnOnce(AuditEvent<'a>) -> T) -> Res<T> {
        fn whole<'a>(r: &mut impl Json<'a>) -> Res<AuditEvent<'a>> {
            let e = AuditEvent::read(r)?;
            r.end()?;
            Ok(e)
        }
        let mut f = Some(f);
        if let Some(t) = indexed::read(text, |r| Ok(whole(r)?).map(|e| f.take().map(|f| f(e)))) {
            return t.ok_or_else(String::new);
        }
        // The fast path left the line before `f` was called.
        let e = whole(&mut Reader::new(text))?;
        f.take().map(|f| f(e)).ok_or_else(String::new)
    }

    /// Reads the object at the reader.
    pub fn read(r: &mut impl Json<'a>) -> Res<Self> {
        let mut e = AuditEvent::default();
        r.object(|r, k| {
            match k {
                name::RESOURCE_TYPE => e.resource_type = Some(r.string()?),
                name::TYPE => e.rest_type = coding(r)?.1.as_deref() == Some("rest"),
                name::SUBTYPE => r.array(|r| {
                    let (system, code) = coding(r)?;
                    if e.rest.is_none() && system.as_deref() == Some(RESTFUL_INTERACTION) {
                        e.rest = code;
                    }
                    Ok(())
                })?,
                name::ACTION => e.action = Some(r.string()?),
                name::RECORDED => e.recorded = Some(r.string()?),
                name::OUTCOME => e.outcome = Some(r.string()?),
                name::AGENT => r.array(|r| e.agents.agent(r))?,
                name::ENTITY => r.array(|r| e.entities.entity(r))?,
                _ => r.skip()?,
            }
            Ok(())
        })?;
        Ok(e)
    }
}

/// Who called: a client id, or a token id to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller<'a> {
    Client(Cow<'a, str>),
    Token(Cow<'a, str>),
    Unknown,
}

/// A token id from `agent.policy`, without the JTI URN's prefix.
fn token_id(p: Cow<'_, str>) -> Cow<'_, str> {
    match p {
        Cow::Borrowed(s) => Cow::Borrowed(s.strip_prefix(JTI_PREFIX).unwrap_or(s)),
        Cow::Owned(s) => Cow::Owned(s.strip_prefix(JTI_PREFIX).unwrap_or(&s).to_string()),
    }
}

/// What the event itself says of a call's context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The human requestor is a patient or another person.
    Requestor(Context),
    /// The event does not settle it: `human` when a requestor other than the application is
    /// named (by display, as a device, or as a type the reader does not know).
    Unsettled { human: bool },
}

impl Settled {
    /// The context when nothing else settles it: user context with a human requestor,
    /// system context without one (BALP's reading).
    pub fn reading(self) -> Context {
        match self {
            Settled::Requestor(c) => c,
            Settled::Unsettled { human: true } => Context::User,
            Settled::Unsettled { human: false } => Context::System,
        }
    }
}

/// What one AuditEvent says about one API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call<'a> {
    pub caller: Caller<'a>,
    /// `YYYY-MM-DD` of `recorded`.
    pub day: Cow<'a, str>,
    pub recorded: Cow<'a, str>,
    pub context: Settled,
    /// The FHIR type acted on; empty for a whole-system interaction.
    pub resource_type: &'static str,
    pub interaction: Interaction,
    pub success: bool,
    /// Whether a patient is named (an entity with role Patient or a `Patient/` reference).
    pub patient: bool,
    /// The token id in an agent's `policy`, whoever called.
    pub token: Option<Cow<'a, str>>,
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
#[doc(hidden)]
pub fn reference_type(reference: &str) -> Option<&'static str> {
    // The path ends at a query or a fragment. Type/id, Type/id/_history/v: the type is the
    // last segment that is a type name (ids and `_history` seldom are; only a capitalized
    // segment is looked up). Segments are walked back byte by byte: references are short.
    let b = reference.as_bytes();
    let mut end = b
        .iter()
        .position(|&c| c == b'?' || c == b'#')
        .unwrap_or(b.len());
    loop {
        let start = b[..end]
            .iter()
            .rposition(|&c| c == b'/')
            .map_or(0, |i| i + 1);
        if b.get(start).is_some_and(u8::is_ascii_uppercase) {
            // Cut at ASCII bytes, so on character boundaries.
            if let Some(t) = reference
                .get(start..end)
                .and_then(crate::scope::fhir::resource_type)
            {
                return Some(t);
            }
        }
        if start == 0 {
            return None;
        }
        end = start - 1;
    }
}

/// The resource type of a search from a base64 query (`.../Encounter?participant=13`).
#[doc(hidden)]
pub fn query_type(query: &str) -> Option<&'static str> {
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
    /// The call this event records, or why it is not counted.
    pub fn call(self) -> Result<Call<'a>, Skip> {
        match self.resource_type.as_deref() {
            Some("AuditEvent") => {}
            Some(other) => {
                return Err(Skip::Bad(format!(
                    "resourceType: '{other}' is not AuditEvent"
                )))
            }
            None => return Err(Skip::Bad("resourceType: missing".into())),
        }
        if !self.rest_type && self.rest.is_none() {
            return Err(Skip::NotRest);
        }
        let Some(recorded) = self.recorded else {
            return Err(Skip::Bad("recorded: missing".into()));
        };
        if !is_instant(&recorded) {
            return Err(Skip::Bad(format!(
                "recorded: '{recorded}' is not a FHIR instant"
            )));
        }
        let day = match &recorded {
            Cow::Borrowed(s) => Cow::Borrowed(&s[..10]),
            Cow::Owned(s) => Cow::Owned(s[..10].to_string()),
        };
        let en = self.entities;
        let interaction = interaction(self.rest.as_deref(), self.action.as_deref(), en.has_query)
            .ok_or_else(|| {
            Skip::Bad("subtype: not a restful-interaction code and no action".to_string())
        })?;
        let resource_type = match interaction {
            Interaction::SearchSystem | Interaction::HistorySystem => "",
            _ => en.data.or(en.patient_type).unwrap_or(""),
        };
        let agents = self.agents;
        let token = agents.policy.clone().map(token_id);
        let caller = match (agents.app.or(agents.device), agents.policy) {
            (Some(id), _) => Caller::Client(id),
            (None, Some(p)) => Caller::Token(token_id(p)),
            (None, None) => Caller::Unknown,
        };
        let success = self.outcome.as_deref().is_none_or(|o| o == "0");
        Ok(Call {
            caller,
            day,
            recorded,
            context: match (agents.human, agents.unsettled) {
                (Some(c), _) => Settled::Requestor(c),
                (None, true) => Settled::Unsettled { human: true },
                (None, false) => Settled::Unsettled { human: false },
            },
            resource_type,
            interaction,
            success,
            patient: en.patient,
            token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The segments walked back byte by byte give what splitting the path gives.
        #[test]
        fn a_reference_type_is_the_last_type_segment(
            r in "(Patient|Observation|_history|p-1|x|é|/|\\?|#|https://h/fhir){0,8}"
        ) {
            let path = r.split(['?', '#']).next().unwrap_or("");
            let split = path
                .rsplit('/')
                .filter(|p| p.starts_with(|c: char| c.is_ascii_uppercase()))
                .find_map(crate::scope::fhir::resource_type);
            prop_assert_eq!(reference_type(&r), split, "{:?}", r);
        }
    }

    fn call(json: &str) -> Result<Call<'_>, Skip> {
        let e = AuditEvent::parse(json).expect("an AuditEvent");
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
        // The user is named by an identifier and a display only: the event does not settle
        // the context, and reads as user context where nothing else does.
        assert_eq!(c.context, Settled::Unsettled { human: true });
        assert_eq!(c.context.reading(), Context::User);
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

    /// The fast path and the byte-by-byte reader make the same call of every fixture (pretty
    /// printed, over many blocks) and of the synthetic log's lines (one per line).
    #[test]
    fn the_fast_path_reads_what_the_reader_reads() {
        let mut texts: Vec<String> = [
            include_str!("../../tests/fixtures/auditevents/balp-ex-auditBasicReadOServer.json"),
            include_str!("../../tests/fixtures/auditevents/audit-event-example-search.json"),
            include_str!("../../tests/fixtures/auditevents/audit-event-example-vread.json"),
            include_str!("../../tests/fixtures/auditevents/auditevent-example-error.json"),
            include_str!("../../tests/fixtures/auditevents/audit-event-example-login.json"),
            include_str!("../../tests/fixtures/auditevents/audit-event-example-logout.json"),
            include_str!("../../tests/fixtures/auditevents/audit-event-example-media.json"),
            include_str!("../../tests/fixtures/auditevents/audit-event-example-pixQuery.json"),
        ]
        .map(String::from)
        .into();
        let clients = [("client-a".to_string(), vec!["Observation".to_string()])];
        let log = crate::usage::synthetic::demo_log(&clients, crate::time::now(), 7);
        texts.extend(
            String::from_utf8(log)
                .expect("UTF-8")
                .lines()
                .map(String::from),
        );
        let mut fast = 0;
        for text in &texts {
            let slow = AuditEvent::read(&mut Reader::new(text)).map(AuditEvent::call);
            if let Some(quick) = indexed::read(text, |r| AuditEvent::read(r)) {
                assert_eq!(Ok(quick.call()), slow, "{text}");
                fast += 1;
            }
        }
        // Only a text with a backslash is left to the byte-by-byte reader.
        let plain = texts.iter().filter(|t| !t.contains('\\')).count();
        assert!(texts.len() > 20 && fast == plain, "{fast} of {plain}");
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

    fn with_requestor(who: &str) -> String {
        format!(
            r#"{{"resourceType":"AuditEvent","type":{{"code":"rest"}},
            "subtype":[{{"system":"http://hl7.org/fhir/restful-interaction","code":"read"}}],
            "recorded":"2026-11-01T10:00:00Z","outcome":"0",
            "agent":[{{"type":{{"coding":[{{"code":"110150"}}]}},"who":{{"identifier":{{"value":"app"}}}},
                       "requestor":false}},
                     {{"who":{who},"requestor":true}}],
            "entity":[{{"what":{{"reference":"Observation/1"}}}}]}}"#
        )
    }

    #[test]
    fn only_a_patient_or_person_requestor_settles_the_context() {
        for (who, settled) in [
            (
                r#"{"reference":"Patient/p-1"}"#,
                Settled::Requestor(Context::Patient),
            ),
            (
                r#"{"reference":"https://h/fhir/Patient/p-1"}"#,
                Settled::Requestor(Context::Patient),
            ),
            (
                r#"{"reference":"Practitioner/pr-1"}"#,
                Settled::Requestor(Context::User),
            ),
            (
                r#"{"reference":"PractitionerRole/r-1"}"#,
                Settled::Requestor(Context::User),
            ),
            (
                r#"{"reference":"RelatedPerson/rp-1"}"#,
                Settled::Requestor(Context::User),
            ),
            (
                r#"{"reference":"Person/x"}"#,
                Settled::Requestor(Context::User),
            ),
            (
                r#"{"display":"Jane Doe"}"#,
                Settled::Unsettled { human: true },
            ),
            (
                r#"{"reference":"Device/d-1"}"#,
                Settled::Unsettled { human: true },
            ),
            (
                r#"{"reference":"Questionnaire/q"}"#,
                Settled::Unsettled { human: true },
            ),
        ] {
            let text = with_requestor(who);
            assert_eq!(call(&text).expect("call").context, settled, "{who}");
        }
        assert_eq!(Settled::Unsettled { human: true }.reading(), Context::User);
        assert_eq!(
            Settled::Unsettled { human: false }.reading(),
            Context::System
        );
    }

    #[test]
    fn the_token_is_kept_whoever_called() {
        let json = r#"{"resourceType":"AuditEvent","type":{"code":"rest"},
            "subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":"read"}],
            "recorded":"2026-11-01T10:00:00Z","outcome":"0",
            "agent":[{"type":{"coding":[{"code":"110150"}]},"who":{"identifier":{"value":"app"}},
                      "requestor":false,"policy":["urn:ietf:params:oauth:jti:tok-2"]}],
            "entity":[{"what":{"reference":"Observation/1"}}]}"#;
        let c = call(json).expect("call");
        assert_eq!(c.caller, Caller::Client(Cow::Borrowed("app")));
        assert_eq!(c.token.as_deref(), Some("tok-2"));
        assert_eq!(c.context, Settled::Unsettled { human: false });
    }
}
